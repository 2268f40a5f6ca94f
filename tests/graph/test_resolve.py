"""The compiled id resolver (``resolve.py``) against a dict, and the problems it leads to, each by its path.

The oracle here is a plain dict from each id to its first position, written in the test: what the
table must find for every id (duplicates) and every reference (unknown ones).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import service.graph.resolve as resolver
from service.graph import InvalidInput, load_graph
from service.graph.node_ids import join_ids
from service.graph.resolve import UNKNOWN
from tests.graph.fuzz_strategies import FAST

names = st.text(alphabet="ab01_.:-", min_size=1, max_size=6)  # few letters: many repeats and near misses


def oracle(ids: list[str], refs: list[str]) -> list[int]:
    first: dict[str, int] = {}
    for i, node_id in enumerate(ids):
        first.setdefault(node_id, i)
    return [first[i] for i in ids] + [first.get(r, UNKNOWN) for r in refs]


@FAST
@given(st.lists(names, max_size=60), st.lists(names, max_size=60))
def test_numbers_are_those_of_a_dict(ids, refs):
    numbers, starts = resolver.resolve(join_ids(ids + refs), len(ids))
    assert numbers.dtype == np.int32 and numbers.tolist() == oracle(ids, refs)
    assert starts.size == len(ids) + len(refs) + 1


@FAST
@given(st.lists(names, min_size=1, max_size=60), st.lists(names, max_size=60))
def test_the_dict_fallback_gives_the_same_numbers(ids, refs):
    # no probe allowed: the table gives up at once, as on ids made to collide, and the dict takes over
    fallbacks = []
    by_dict = resolver._resolve_by_dict
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resolver, "_resolve_by_dict", lambda *args: fallbacks.append(1) or by_dict(*args))
        numbers, _ = resolver.resolve(join_ids(ids + refs), len(ids), max_probes=0)
    assert fallbacks == [1] and numbers.tolist() == oracle(ids, refs)


def test_many_ids_and_references():
    rng = np.random.default_rng(5)
    ids = [f"n{i}" for i in rng.permutation(200_000)]
    ids += ids[::10_000]  # 20 duplicates
    refs = [f"n{i}" for i in rng.integers(0, 210_000, 500_000)]  # about 5% unknown
    numbers, _ = resolver.resolve(join_ids(ids + refs), len(ids))
    assert numbers.tolist() == oracle(ids, refs)


def problems(definition):
    with pytest.raises(InvalidInput) as caught:
        load_graph(definition)
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("ref", ["", "a\nb", "x\n", "\n", "é", "\ud800", "x ", "?", "X", "x" * 200])
def test_a_reference_no_id_can_equal_is_unknown_and_quoted_as_given(ref):
    definition = {"inputs": ["x", "y"], "gates": [{"id": "q", "op": "add", "inputs": ["x", ref, "y"]}]}
    assert problems(definition) == [("gates[0].inputs[1]", f"unknown node {ref!r}")]


def test_problems_of_a_large_graph_are_each_named_by_path():
    n = 50_000
    gates = [{"id": f"g{i}", "op": "add", "inputs": ["x", f"g{i - 1}" if i else "y"]} for i in range(n)]
    expected = []
    for i in (7, 20_000, 49_999):
        gates[i]["inputs"].append(f"nope{i}")
        expected.append((f"gates[{i}].inputs[2]", f"unknown node 'nope{i}'"))
    gates[30_000]["id"] = "g5"
    gates[30_001]["inputs"][1] = "g5"  # reads the first g5: no cycle, no unknown node
    expected.insert(0, ("gates[30000].id", "duplicate id 'g5' (already used at gates[5].id)"))
    outputs = ["g3", "zz", "g3", "y"]
    expected += [("outputs[1]", "unknown node 'zz'"), ("outputs[2]", "'g3' is listed twice")]
    assert problems({"inputs": ["x", "y"], "gates": gates, "outputs": outputs}) == expected


def test_a_cycle_among_many_gates_is_named_from_its_first_gate():
    n = 30_000
    gates = [{"id": f"g{i}", "op": "mul", "inputs": ["x", f"g{i - 1}" if i else "x"]} for i in range(n)]
    gates[100]["inputs"][0] = "g200"  # g100 reads g200, which reads g199 ... g100
    found = problems({"inputs": ["x"], "gates": gates})
    names = " -> ".join(f"g{i}" for i in [100, *range(101, 201), 100])
    assert found == [("gates[100]", f"the graph has a cycle: {names}")]


def test_outputs_resolve_to_their_nodes_in_the_order_listed():
    gates = [{"id": "q", "op": "add", "inputs": ["x", "x"]}, {"id": "f", "op": "mul", "inputs": ["q", "k"]}]
    plan = load_graph({"inputs": ["x"], "constants": {"k": 3.0}, "gates": gates, "outputs": ["q", "k", "f", "x"]})
    assert plan.outputs.tolist() == [2, 1, 3, 0] and plan.output_ids == ["q", "k", "f", "x"]
