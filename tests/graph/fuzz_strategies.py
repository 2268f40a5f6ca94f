"""Hypothesis strategies and checks shared by the fuzz tests of the core (tests/graph) and of the API (tests/api)."""

from __future__ import annotations

import copy
import json
import math

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from service.graph import InvalidInput, Limits, MalformedJSON, Plan, load_graph, loads

VALID = {
    "name": "cs231n-circuit",
    "inputs": ["x", "y", "z"],
    "constants": {"two": 2.0},
    "gates": [
        {"id": "q", "op": "add", "inputs": ["x", "y"]},
        {"id": "f", "op": "mul", "inputs": ["q", "z"]},
        {"id": "h", "op": "mul", "inputs": ["f", "two", "f"]},
    ],
    "outputs": ["f", "h"],
}


PLAN = load_graph(VALID)


SMALL = Limits(max_gates=4, max_leaves=5, max_gate_inputs=3, max_batch=4, max_cells=12)


HUGE_INTS = st.sampled_from([10**400, -(10**400), 2**63, 2**64, -(2**64) - 1, 10**4000])


#: any text, and sometimes lone UTF-16 surrogates (which Hypothesis leaves out of text() by default)
NASTY = ["", "\x00", "a\x00b", "\ud800", "\udfff\ud800", "\U0001f600", "\u202e", "\r\n", "\\", '"', "\ufeff", "x" * 201]


strings = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs", "Lu", "Nd"]), min_size=1, max_size=4),
    st.sampled_from(NASTY),
)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    strings,
)


json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(strings, children, max_size=5)),
    max_leaves=30,
)


node_ids = st.one_of(
    st.sampled_from(["x", "y", "z", "q", "f", "h", "two", "w", ""]),
    strings.filter(bool),  # any unicode: mostly not valid ids
    st.text(alphabet="abc_.:-09", min_size=1, max_size=4),
    st.just("a" * 129),  # one over the id length limit
)


def _paths(value, here=()):
    """Every path into a JSON value (tuples of keys and indexes), the root included."""
    out, stack = [], [(here, value)]
    while stack:
        path, node = stack.pop()
        out.append(path)
        if isinstance(node, dict):
            stack.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((path + (i,), v) for i, v in enumerate(node))
    return out


def _get(value, path):
    for step in path:
        value = value[step]
    return value


def nested(depth: int, leaf):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@st.composite
def mutated_definitions(draw):
    """A valid definition with one to four random mutations, each at a random place in it."""
    definition = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(definition)
        path = draw(st.sampled_from(paths))
        kind = draw(
            st.sampled_from(["replace", "delete", "extra", "nest", "huge", "duplicate", "unicode", "wrong_type"])
        )
        if not path:  # the root: only an extra key, or the whole definition replaced
            if kind == "replace":
                definition = draw(json_values)
                break
            if isinstance(definition, dict):
                definition[draw(strings)] = draw(json_values)
            continue
        parent, key = _get(definition, path[:-1]), path[-1]
        if kind == "delete":
            del parent[key]
        elif kind == "extra":
            target = parent[key]
            if isinstance(target, dict):
                target[draw(strings)] = draw(json_values)
            elif isinstance(target, list):
                target.append(draw(json_values))
            else:
                parent[key] = draw(json_values)
        elif kind == "nest":
            depth = draw(st.sampled_from([1, 2, 50, 3000]))
            parent[key] = nested(depth, parent[key])
            if depth > 2:
                break  # no further mutation: listing the paths of a 3,000-deep value again would be quadratic
        elif kind == "huge":
            parent[key] = draw(HUGE_INTS)
        elif kind == "duplicate":
            parent[key] = draw(st.sampled_from(["x", "y", "z", "q", "f", "h", "two"]))
        elif kind == "unicode":
            parent[key] = draw(strings)
        elif kind == "wrong_type":
            parent[key] = draw(
                st.one_of(
                    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.just([]), st.just({})
                )
            )
        else:
            parent[key] = draw(json_values)
    return definition


def assert_problems(exc: InvalidInput) -> None:
    assert exc.problems, "InvalidInput without problems"
    for problem in exc.problems:
        assert isinstance(problem.path, str), problem
        assert isinstance(problem.message, str) and problem.message.strip(), problem
    str(exc)  # the summary message builds


def check_load(definition, limits=None) -> Plan | None:
    try:
        plan = load_graph(definition, limits) if limits else load_graph(definition)
    except InvalidInput as exc:
        assert_problems(exc)
        return None
    assert isinstance(plan, Plan)
    assert len(set(plan.ids)) == plan.n_nodes and plan.n_gates >= 1
    return plan


FAST = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True), HUGE_INTS)


input_values = st.one_of(numbers, st.lists(numbers, max_size=6), json_values)


assignments = st.one_of(
    json_values,
    st.dictionaries(node_ids, input_values, max_size=5),
    st.fixed_dictionaries({"x": input_values, "y": input_values, "z": input_values}),
    st.integers(1, 6).flatmap(
        lambda n: st.fixed_dictionaries({k: st.lists(numbers, min_size=n, max_size=n) for k in "xyz"})
    ),
)


def check_loads(text):
    try:
        return loads(text)
    except MalformedJSON as exc:
        assert str(exc)
        return None


def as_floats(value):
    """Integers as float64 (what the service computes with): orjson reads integers beyond 64 bits as floats."""
    if isinstance(value, dict):
        return {k: as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_floats(v) for v in value]
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


class _Raw(str):
    """Text dumps writes as it is."""


def dumps(value) -> str:
    """json.dumps, without recursion (mutated definitions nest 3,000 deep); NaN and Infinity written bare."""
    out, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, _Raw):
            out.append(node)
        elif isinstance(node, (dict, list)):
            items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
            parts: list = [_Raw("{" if isinstance(node, dict) else "[")]
            for i, (k, v) in enumerate(items):
                parts += ([_Raw(",")] if i else []) + ([_Raw(json.dumps(k) + ":")] if k is not None else []) + [v]
            stack.extend(reversed(parts + [_Raw("}" if isinstance(node, dict) else "]")]))
        else:
            out.append(json.dumps(node))
    return "".join(out)
