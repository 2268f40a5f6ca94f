"""Fuzzing the definition parser and validator: hostile input gets a clean answer, never a crash.

- ``load_graph`` on random JSON values and on random mutations of a valid definition either
  returns a Plan or raises ``InvalidInput`` whose problems each have a path and a message;
- ``bind_inputs`` on random job inputs against a fixed plan: a ``JobInputs`` or ``InvalidInput``;
- ``loads`` on random bytes, truncated JSON and very deep nesting: a value or ``MalformedJSON``;

Example budgets are fixed and moderate (the whole file runs in well under a minute); CI loads the
derandomized "ci" profile (tests/conftest.py), so it explores the same examples every run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.graph import InvalidInput, JobInputs, Limits, MalformedJSON, bind_inputs, load_graph, loads
from service.graph.numbers import MAX_JSON_DEPTH, JSONTooDeep, _holds_surrogate
from tests.graph.fuzz_strategies import (
    FAST,
    PLAN,
    SMALL,
    VALID,
    as_floats,
    assert_problems,
    assignments,
    check_load,
    check_loads,
    dumps,
    input_values,
    json_values,
    mutated_definitions,
    nested,
    node_ids,
)


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
@given(
    st.lists(
        st.fixed_dictionaries(
            {"id": node_ids, "op": st.sampled_from(["add", "mul", "pow", ""]), "inputs": st.lists(node_ids, max_size=4)}
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(node_ids, max_size=4),
    st.one_of(st.none(), st.lists(node_ids, max_size=3)),
)
def test_load_graph_on_random_gate_lists_names_every_problem(gates, inputs, outputs):
    definition = {"inputs": inputs, "gates": gates}
    if outputs is not None:
        definition["outputs"] = outputs
    check_load(definition)


def test_deeply_nested_values_in_every_field_are_invalid_input():
    deep = nested(100_000, 1)
    for field in ("name", "inputs", "constants", "gates", "outputs"):
        with pytest.raises(InvalidInput) as info:
            load_graph({**VALID, field: deep})
        assert_problems(info.value)
    with pytest.raises(InvalidInput):
        load_graph({**VALID, "gates": [{"id": "q", "op": "add", "inputs": deep}]})


@settings(FAST, max_examples=300)
@given(
    assignments,
    st.one_of(st.none(), assignments, st.fixed_dictionaries({"f": input_values}, optional={"h": input_values})),
    st.booleans(),
)
def test_bind_inputs_on_random_inputs_is_job_inputs_or_invalid_input(inputs, output_grads, small):
    try:
        bound = bind_inputs(PLAN, inputs, output_grads, SMALL if small else Limits())
    except InvalidInput as exc:
        assert_problems(exc)
        return
    assert isinstance(bound, JobInputs)
    assert bound.values.shape == (PLAN.n_inputs, bound.batch_size) and np.isfinite(bound.values).all()
    assert bound.output_grads.shape == (2, bound.batch_size) and np.isfinite(bound.output_grads).all()


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
        check_loads(text[:at] + data.draw(st.binary(min_size=1, max_size=3)) + text[at + 1 :])
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
    assert as_floats(loads(text.encode())) == as_floats(expected)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
@pytest.mark.parametrize("shape", ["array", "object", "in a definition", "unclosed", "with a huge number"])
def test_deep_nesting_is_too_deep_not_a_crash(depth, shape):
    opening = {
        "array": b"[",
        "object": b'{"a":',
        "in a definition": b"[",
        "unclosed": b"[",
        "with a huge number": b"[",
    }[shape]
    closing = {"array": b"]", "object": b"}", "in a definition": b"]", "unclosed": b"", "with a huge number": b"]"}[
        shape
    ]
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
    assert loads(b'{"a": "\\ud83d\\ude00", "b": 1e400}') == {"a": "\U0001f600", "b": math.inf}
    assert loads(b"[" + b"9" * 5000 + b"]") == [math.inf]
    assert loads(b"[" + b"9" * 300 + b", 1e400]")[0] == int("9" * 300)
