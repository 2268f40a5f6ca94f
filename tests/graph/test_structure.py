"""The linear structural checks: the fast path and the slow path agree, and every problem has its path."""

import pytest

from service.graph.structure import (
    MAX_ID_LENGTH,
    check_constants,
    check_gates,
    check_id_list,
    id_problem,
    ids_are_valid,
)

GOOD_GATES = [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z", "q"]}]


@pytest.mark.parametrize("value", ["x", "a.b:c-d_9", "x" * MAX_ID_LENGTH])
def test_valid_ids_pass_both_paths(value):
    assert id_problem(value) is None and ids_are_valid([value, "y"])


@pytest.mark.parametrize(
    "value, why",
    [("", "empty"), ("x" * (MAX_ID_LENGTH + 1), "limit"), ("a b", "' '"), (3, "a string"), (True, "a string")],
)
def test_invalid_ids_fail_both_paths(value, why):
    assert why in id_problem(value) and not ids_are_valid(["ok", value])


def test_gate_columns_keep_the_order_and_the_repeats():
    columns, problems = check_gates(GOOD_GATES)
    assert problems == [] and columns.ids == ["q", "f"] and columns.ops == ["add", "mul"]
    assert columns.inputs == [["x", "y"], ["q", "z", "q"]]


def test_every_gate_problem_is_named_with_its_path():
    gates = [
        {"id": "q", "op": "pow", "inputs": ["x"]},
        {"id": "", "op": "add", "inputs": ["x", 4], "extra": 1},
        "not a gate",
        {"op": "mul"},
    ]
    columns, problems = check_gates(gates)
    assert columns is None
    found = {(p.path, p.message.split(",")[0]) for p in problems}
    assert ("[0].op", "must be 'add' or 'mul'") in found
    assert ("[0].inputs", "a gate needs two or more inputs") in found
    assert {p.path for p in problems} >= {"[1].extra", "[1].id", "[1].inputs[1]", "[2]", "[3].id", "[3].inputs"}


def test_id_lists_and_constants_report_each_bad_item():
    _, problems = check_id_list(["x", 1, "y", ""])
    assert [p.path for p in problems] == ["[1]", "[3]"]
    _, problems = check_constants({"two": 2.0, "b@d": 1.0, "inf": float("inf"), "t": True})
    assert {p.path for p in problems} == {"b@d", "inf", "t"}
