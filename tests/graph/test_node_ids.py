"""Joined ids (``node_ids.py``) read back exactly as the list they were made from, and plans build no list unasked."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.graph import evaluate, load_graph
from service.graph.gradcheck import check_gradients
from service.graph.node_ids import JoinedIds, item_starts, join_ids
from service.graph.plan_blob import plan_from_bytes, plan_to_bytes
from tests.graph.fuzz_strategies import FAST

valid_ids = st.text(alphabet="abcXYZ019_.:-", min_size=1, max_size=12)
id_lists = st.lists(valid_ids, max_size=40)


@FAST
@given(id_lists, st.integers(-50, 50), st.integers(-50, 50))
def test_every_read_matches_the_list(ids, start, stop):
    joined = JoinedIds.of(ids)
    assert len(joined) == len(ids) and joined.tolist() == ids
    assert joined.between(start, stop) == ids[start:stop]  # a list slice is the oracle, clipping included
    for i in range(-len(ids), len(ids)):
        assert joined[i] == ids[i]
    numbers = [i for i in range(len(ids)) for _ in range(i % 3)]  # repeats, and some left out
    assert joined.take(np.array(numbers, dtype=np.int32)) == [ids[i] for i in numbers]
    assert joined.nbytes == sum(len(i) + 1 for i in ids) + 8 * (len(ids) + 1)


@FAST
@given(st.lists(valid_ids, min_size=1, max_size=300), st.lists(st.integers(0, 10**6), max_size=400))
def test_taking_many_ids_matches_the_list(ids, picks):
    numbers = [p % len(ids) for p in picks]  # past 64 numbers, one gather of the bytes of all of them
    assert JoinedIds.of(ids).take(np.array(numbers)) == [ids[i] for i in numbers]
    reordered = JoinedIds.of(ids).reordered(np.array(numbers, dtype=np.int64))
    assert reordered.tolist() == [ids[i] for i in numbers] and len(reordered) == len(numbers)
    assert reordered.text == join_ids([ids[i] for i in numbers])


@pytest.mark.parametrize("i", [3, -4, 10])
def test_a_number_out_of_range_is_an_index_error(i):
    with pytest.raises(IndexError):
        JoinedIds.of(["a", "b", "c"])[i]


def test_the_text_is_newline_terminated_ascii():
    assert join_ids(["ab", "c"]) == b"ab\nc\n" and join_ids([]) == b""
    assert item_starts(b"ab\nc\n").tolist() == [0, 3, 5] and item_starts(b"").tolist() == [0]
    assert JoinedIds.of([]).tolist() == [] and JoinedIds.of([]).between(0, 5) == []


@pytest.mark.parametrize("bad", [["a\nb"], ["x", "é"], ["x", 3]])
def test_ids_that_cannot_be_joined_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):  # UnicodeEncodeError is a ValueError
        JoinedIds.of(bad)


DEFINITION = {
    "inputs": ["x", "y"],
    "constants": {"two": 2.0},
    "gates": [
        {"id": "q", "op": "add", "inputs": ["x", "y"]},
        {"id": "f", "op": "mul", "inputs": ["q", "two"]},
        {"id": "h", "op": "mul", "inputs": ["x", "x"]},
    ],
}


def test_a_plan_builds_no_list_of_ids_until_asked():
    plan = load_graph(DEFINITION)
    assert plan.input_ids == ["x", "y"] and plan.output_ids == ["f", "h"] and plan.id_of(3) == "q"
    x, seeds = np.array([[1.0], [2.0]]), np.ones((2, 1))
    result = evaluate(plan, x, seeds)
    assert check_gradients(plan, x, seeds, result.grads).node in {"x", "y"}
    assert "ids" not in plan.__dict__ and "index" not in plan.__dict__
    assert plan.ids == ["x", "y", "two", "q", "f", "h"] and plan.ids is plan.ids  # built once, then kept
    assert plan.index == {"x": 0, "y": 1, "two": 2, "q": 3, "f": 4, "h": 5}


def test_a_stored_plan_takes_its_ids_as_a_list_or_joined():
    plan = load_graph(DEFINITION)
    blob = plan_to_bytes(plan)
    ids = ["x", "y", "two", "q", "f", "h"]
    assert plan_from_bytes(blob, ids).ids == ids
    assert plan_from_bytes(blob, JoinedIds.of(ids)).output_ids == ["f", "h"]
    with pytest.raises(ValueError):
        plan_from_bytes(blob, ids[:-1])  # a stored graph whose ids do not match its plan
