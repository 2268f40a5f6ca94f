"""Fuzzing the definition parser and validator: hostile input gets a clean answer, never a crash.

- ``load_graph`` on random JSON values and on random mutations of a valid definition either
  returns a Plan or raises ``InvalidInput`` whose problems each have a path and a message;
- ``bind_inputs`` on random job inputs against a fixed plan: a ``JobInputs`` or ``InvalidInput``;
- ``loads`` on random bytes, truncated JSON and very deep nesting: a value or ``MalformedJSON``;
- through HTTP, random bodies POSTed to /v1/graphs and /v1/jobs: a problem+json 4xx (or a 2xx
  when the mutation happened to leave the body valid), never a 5xx.

Example budgets are fixed and moderate (the whole file runs in well under a minute); CI loads the
derandomized "ci" profile (tests/conftest.py), so it explores the same examples every run.
"""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.graph import InvalidInput, JobInputs, Limits, MalformedJSON, Plan, bind_inputs, load_graph, loads
from service.graph.numbers import MAX_JSON_DEPTH, JSONTooDeep, _holds_surrogate

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

# -- strategies -------------------------------------------------------------------------------

#: any text, and sometimes lone UTF-16 surrogates (which Hypothesis leaves out of text() by default)
NASTY = ["", "\x00", "a\x00b", "\ud800", "\udfff\ud800", "\U0001F600", "\u202e", "\r\n", "\\", '"', "\ufeff", "x" * 201]
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


def _nested(depth: int, leaf):
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
        kind = draw(st.sampled_from(["replace", "delete", "extra", "nest", "huge", "duplicate", "unicode", "wrong_type"]))
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
            parent[key] = _nested(depth, parent[key])
            if depth > 2:
                break  # no further mutation: listing the paths of a 3,000-deep value again would be quadratic
        elif kind == "huge":
            parent[key] = draw(HUGE_INTS)
        elif kind == "duplicate":
            parent[key] = draw(st.sampled_from(["x", "y", "z", "q", "f", "h", "two"]))
        elif kind == "unicode":
            parent[key] = draw(strings)
        elif kind == "wrong_type":
            parent[key] = draw(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.just([]), st.just({})))
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


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- load_graph -------------------------------------------------------------------------------


@FAST
@given(json_values)
def test_load_graph_on_random_json_is_a_plan_or_invalid_input(value):
    check_load(value)


@FAST
@given(st.dictionaries(st.sampled_from(["name", "inputs", "constants", "gates", "outputs", "extra"]), json_values))
def test_load_graph_on_random_objects_with_the_right_keys(value):
    check_load(value)


@settings(FAST, max_examples=300)
@given(mutated_definitions(), st.booleans())
def test_load_graph_on_mutated_definitions_is_a_plan_or_invalid_input(definition, small):
    check_load(definition, SMALL if small else None)


@FAST
@given(st.lists(st.fixed_dictionaries({"id": node_ids, "op": st.sampled_from(["add", "mul", "pow", ""]),
                                       "inputs": st.lists(node_ids, max_size=4)}), min_size=1, max_size=6),
       st.lists(node_ids, max_size=4), st.one_of(st.none(), st.lists(node_ids, max_size=3)))
def test_load_graph_on_random_gate_lists_names_every_problem(gates, inputs, outputs):
    definition = {"inputs": inputs, "gates": gates}
    if outputs is not None:
        definition["outputs"] = outputs
    check_load(definition)


def test_deeply_nested_values_in_every_field_are_invalid_input():
    deep = _nested(100_000, 1)
    for field in ("name", "inputs", "constants", "gates", "outputs"):
        with pytest.raises(InvalidInput) as info:
            load_graph({**VALID, field: deep})
        assert_problems(info.value)
    with pytest.raises(InvalidInput):
        load_graph({**VALID, "gates": [{"id": "q", "op": "add", "inputs": deep}]})


# -- bind_inputs ------------------------------------------------------------------------------

numbers = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True), HUGE_INTS)
input_values = st.one_of(numbers, st.lists(numbers, max_size=6), json_values)
assignments = st.one_of(
    json_values,
    st.dictionaries(node_ids, input_values, max_size=5),
    st.fixed_dictionaries({"x": input_values, "y": input_values, "z": input_values}),
    st.integers(1, 6).flatmap(lambda n: st.fixed_dictionaries({k: st.lists(numbers, min_size=n, max_size=n) for k in "xyz"})),
)


@settings(FAST, max_examples=300)
@given(assignments, st.one_of(st.none(), assignments, st.fixed_dictionaries({"f": input_values}, optional={"h": input_values})),
       st.booleans())
def test_bind_inputs_on_random_inputs_is_job_inputs_or_invalid_input(inputs, output_grads, small):
    try:
        bound = bind_inputs(PLAN, inputs, output_grads, SMALL if small else Limits())
    except InvalidInput as exc:
        assert_problems(exc)
        return
    assert isinstance(bound, JobInputs)
    assert bound.values.shape == (PLAN.n_inputs, bound.batch_size) and np.isfinite(bound.values).all()
    assert bound.output_grads.shape == (2, bound.batch_size) and np.isfinite(bound.output_grads).all()


# -- loads (the JSON text) ----------------------------------------------------------------------


def check_loads(text):
    try:
        return loads(text)
    except MalformedJSON as exc:
        assert str(exc)
        return None


@FAST
@given(st.binary(max_size=200))
def test_loads_on_random_bytes_is_a_value_or_malformed_json(data):
    check_loads(data)


@FAST
@given(json_values, st.data())
def test_loads_on_truncated_and_corrupted_json_is_a_value_or_malformed_json(value, data):
    text = dumps(value).encode()  # NaN and Infinity tokens too, which must be refused
    cut = data.draw(st.integers(0, len(text)))
    check_loads(text[:cut])
    if text:
        at = data.draw(st.integers(0, len(text) - 1))
        check_loads(text[:at] + data.draw(st.binary(min_size=1, max_size=3)) + text[at + 1:])
    check_loads(text.decode())


@FAST
@given(json_values)
def test_loads_reads_back_what_json_writes(value):
    text = dumps(value)
    assume("NaN" not in text and "Infinity" not in text)
    expected = json.loads(text)  # the standard library's reading ("\\ud83d\\ude00" is one character)
    if _holds_surrogate(expected):  # a lone surrogate is not Unicode text: refused
        with pytest.raises(MalformedJSON, match="surrogate"):
            loads(text.encode())
        return
    assert _as_floats(loads(text.encode())) == _as_floats(expected)


def _as_floats(value):
    """Integers as float64 (what the service computes with): orjson reads integers beyond 64 bits as floats."""
    if isinstance(value, dict):
        return {k: _as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
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


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
@pytest.mark.parametrize("shape", ["array", "object", "in a definition", "unclosed", "with a huge number"])
def test_deep_nesting_is_too_deep_not_a_crash(depth, shape):
    opening = {"array": b"[", "object": b'{"a":', "in a definition": b"[", "unclosed": b"[", "with a huge number": b"["}[shape]
    closing = {"array": b"]", "object": b"}", "in a definition": b"]", "unclosed": b"", "with a huge number": b"]"}[shape]
    inner = b"1e400" if shape == "with a huge number" else b"1"
    text = opening * depth + inner + closing * depth
    if shape == "in a definition":
        text = b'{"name": ' + text + b', "inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}'
    with pytest.raises(MalformedJSON) as info:
        loads(text)
    if shape != "unclosed":
        assert isinstance(info.value, JSONTooDeep) and f"MAX_JSON_DEPTH={MAX_JSON_DEPTH}" in str(info.value)


def test_nesting_up_to_the_limit_is_read():
    value, depth = loads(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH), 0
    while value:
        value, depth = value[0], depth + 1
    assert value == [] and depth == MAX_JSON_DEPTH - 1


@pytest.mark.parametrize("text", [b'"\\ud800"', b'{"\\udfff": 1}', b'{"name": "\\ud83d", "n": 1e400}', '"\ud800"'])
def test_lone_surrogates_are_malformed_json(text):
    with pytest.raises(MalformedJSON, match="surrogate"):
        loads(text)


def test_surrogate_pairs_and_huge_numbers_still_read():
    assert loads(b'{"a": "\\ud83d\\ude00", "b": 1e400}') == {"a": "\U0001F600", "b": math.inf}
    assert loads(b"[" + b"9" * 5000 + b"]") == [math.inf]
    assert loads(b"[" + b"9" * 300 + b", 1e400]")[0] == int("9" * 300)


# -- through HTTP ---------------------------------------------------------------------------------

HTTP = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
#: places in a valid one-step job request where any string may go, as a value or as an object key
STRING_PLACES = ["name", "inputs.0", "gates.0.id", "gates.1.inputs.0", "gates.0.op", "outputs.0", "constants.*", "job.*", "grads.*"]


def _with_string_at(place: str, text: str) -> dict:
    """A valid one-step job request with ``text`` at ``place`` (``*``: as a new key)."""
    request = {"graph": copy.deepcopy(VALID), "inputs": {"x": 1, "y": 2, "z": 3}, "output_grads": {"f": 1}}
    *steps, last = place.split(".")
    node = request["inputs"] if steps == ["job"] else request["output_grads"] if steps == ["grads"] else request["graph"]
    for step in steps if steps and steps[0] not in ("job", "grads") else []:
        node = node[int(step) if step.isdigit() else step]
    if last == "*":
        node[text] = 1
    else:
        node[int(last) if last.isdigit() else last] = text
    return request


bodies = st.one_of(
    json_values.map(lambda v: dumps(v).encode()),
    mutated_definitions().map(lambda v: dumps(v).encode()),
    st.builds(lambda d, i: dumps({"graph": d, "inputs": i}).encode(), mutated_definitions(), assignments),
    st.binary(max_size=100),
)


def assert_answer(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == response.status_code
        assert all(isinstance(e["path"], str) and e["message"] for e in body.get("errors", []))


@HTTP
@given(body=bodies, url=st.sampled_from(["/v1/graphs", "/v1/jobs"]))
def test_random_bodies_get_a_problem_never_a_5xx(client, body, url):
    assert_answer(client.post(url, data=body, headers={"Content-Type": "application/json"}))


@settings(HTTP, max_examples=60)
@given(place=st.sampled_from(STRING_PLACES), text=strings, url=st.sampled_from(["/v1/graphs", "/v1/jobs"]))
def test_any_string_anywhere_gets_an_answer_never_a_5xx(client, place, text, url):
    """On both databases: PostgreSQL text holds no NUL, SQLite and orjson no lone surrogate."""
    request = _with_string_at(place, text)
    body = request["graph"] if url == "/v1/graphs" else request
    assert_answer(client.post(url, data=dumps(body).encode(), headers={"Content-Type": "application/json"}))


header_values = st.one_of(st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=300),
                          st.sampled_from(["\x00", "k\x00y", "\x7f", "\t", "é", "k" * 255, "k" * 256]))


@settings(HTTP, max_examples=40)
@given(key=header_values)
def test_any_idempotency_key_gets_an_answer_never_a_5xx(client, key):
    request = {"graph": VALID, "inputs": {"x": 1, "y": 2, "z": 3}}
    assert_answer(client.post("/v1/jobs", json=request, headers={"Idempotency-Key": key}))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deep_nesting_through_http_is_422_naming_the_limit(client):
    deep = b"[" * 50_000 + b"]" * 50_000
    body = b'{"name": ' + deep + b', "inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}'
    for url in ("/v1/graphs", "/v1/jobs"):
        response = client.post(url, data=body, headers={"Content-Type": "application/json"})
        assert_answer(response)
        assert response.status_code == 422 and "MAX_JSON_DEPTH=1024" in response.get_json()["detail"]


@settings(HTTP, max_examples=60)
@given(state=json_values, raw=st.one_of(st.none(), st.text(max_size=30)), url=st.sampled_from(["/v1/graphs", "/v1/jobs"]))
def test_any_cursor_gets_an_answer_never_a_5xx(client, state, raw, url):
    """A cursor is ours to give out; anything else (a NUL in an id, a far date, garbage) is a 422."""
    import base64

    if raw is None:
        raw = base64.urlsafe_b64encode(dumps(state).encode("utf-8", "surrogatepass")).decode().rstrip("=")
    assert_answer(client.get(url, query_string={"cursor": raw}))


@pytest.mark.parametrize("state", [["2024-01-01T00:00:00", "a\x00b"], ["9999-12-31T23:59:59+14:00", "00000000-0000-0000-0000-000000000000"],
                                   ["0001-01-01", "00000000-0000-0000-0000-000000000000"], [None, None], [1, 2]])
def test_hostile_cursors_are_422_or_pages(client, state):
    from service.api.render import encode_cursor

    for url in ("/v1/graphs", "/v1/jobs"):
        assert_answer(client.get(url, query_string={"cursor": encode_cursor(state)}))
