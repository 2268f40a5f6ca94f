"""The linear structural checks: the fast path and the slow path agree, and every problem has its path."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.graph.node_ids import join_ids
from service.graph.ops import ADD, MUL
from service.graph.structure import (
    MAX_ID_LENGTH,
    _gate_problems,
    check_constants,
    check_gates,
    check_id_list,
    id_problem,
    ids_are_valid,
    joined_ids_are_valid,
)
from tests.graph.fuzz_strategies import FAST, NASTY, node_ids

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
    assert problems == [] and columns.ids == b"q\nf\n" and columns.ops.tolist() == [ADD.code, MUL.code]
    assert columns.arity.tolist() == [2, 3] and columns.refs == b"x\ny\nq\nz\nq\n"
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


odd_ids = st.one_of(node_ids, st.sampled_from(["a\nb", "\n", "x\n", "é", "?", "a" * 128]), st.integers(), st.none())


@FAST
@given(st.lists(odd_ids, min_size=1, max_size=8))
def test_joined_ids_are_valid_exactly_when_each_id_is(ids):
    try:
        text = join_ids(ids)
    except (TypeError, UnicodeEncodeError):  # what the gate list's fast path catches
        valid = False
    else:
        valid = joined_ids_are_valid(text, len(ids))
    assert valid == all(id_problem(i) is None for i in ids)  # the slow path's regex, one id at a time


gate_values = st.one_of(
    st.fixed_dictionaries(
        {"id": odd_ids, "op": st.sampled_from(["add", "mul", "pow", 1]), "inputs": st.lists(odd_ids, max_size=4)}
    ),
    st.fixed_dictionaries({"id": odd_ids, "op": st.just("add"), "inputs": st.one_of(st.text(max_size=3), st.none())}),
    st.fixed_dictionaries(
        {"id": odd_ids, "op": st.just("add")}, optional={"inputs": st.just(["x", "y"]), "w": st.none()}
    ),
    st.sampled_from(["abc", ["a", "b", "c"], 3, None]),
)


good_ids = st.text(alphabet="abq19_.:-", min_size=1, max_size=5)
# references are any text: an unknown one is compilation's problem, not the structure's
good_gates = st.fixed_dictionaries(
    {
        "id": good_ids,
        "op": st.sampled_from(["add", "mul"]),
        "inputs": st.lists(st.one_of(good_ids, good_ids, st.text(max_size=3), st.sampled_from(NASTY)), min_size=2),
    }
)
gate_lists = st.one_of(
    st.lists(good_gates, min_size=1, max_size=5),
    st.tuples(st.lists(good_gates, max_size=4), gate_values).map(lambda pair: [*pair[0], pair[1]]),
    st.lists(gate_values, min_size=1, max_size=5),
)


@FAST
@given(gate_lists)
def test_the_fast_path_takes_a_gate_list_exactly_when_the_slow_path_finds_nothing(gates):
    columns, problems = check_gates(gates)
    slow = [(i, p) for i, gate in enumerate(gates) for p in _gate_problems(i, gate)]
    # a reference that is text but no valid id is, in a sound gate list, compilation's "unknown node"
    # (as before the joined path); the slow path, run for other problems, names it by its own fault
    structural = [p for i, p in slow if not _text_reference(gates[i], p.path)]
    assert (columns is None) == bool(structural)
    assert columns is not None or problems == [p for _, p in slow]
    if columns is not None:  # the columns are the gate list's, read back from the joined bytes
        assert columns.ids.decode().split("\n")[:-1] == [g["id"] for g in gates]
        assert columns.arity.tolist() == [len(g["inputs"]) for g in gates]
        refs = [r for g in gates for r in g["inputs"]]
        items = columns.refs.decode("ascii").split("\n")[:-1]
        assert len(items) == len(refs)  # one item a reference, whatever it holds
        for ref, item in zip(refs, items, strict=True):
            # a reference that could be an id is kept as it is; any other becomes no valid id either
            assert item == ref if ref.isascii() and "\n" not in ref else id_problem(item) is not None


def _text_reference(gate, path: str) -> bool:
    head, _, k = path.partition(".inputs[")
    return bool(k) and type(gate["inputs"][int(k[:-1])]) is str
