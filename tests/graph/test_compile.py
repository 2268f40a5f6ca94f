"""Compilation: ids resolved to node numbers, op codes from the table, gates ordered, outputs found."""

import numpy as np
import pytest

from service.graph import InvalidInput
from service.graph.compile import compile_graph
from service.graph.ops import ADD, MUL
from service.graph.structure import GateColumns, check_gates


def _columns(*gates: tuple[str, str, list[str]]) -> GateColumns:
    columns, problems = check_gates([{"id": i, "op": op, "inputs": refs} for i, op, refs in gates])
    assert problems == []
    return columns


def test_nodes_are_numbered_inputs_constants_gates_and_edges_point_at_them():
    plan = compile_graph(["x", "y"], {"c": 2.0}, _columns(("q", "add", ["x", "c"]), ("f", "mul", ["q", "y", "q"])))
    assert plan.ids == ["x", "y", "c", "q", "f"] and plan.first_gate == 3
    assert plan.ops.tolist() == [ADD.code, MUL.code]
    assert plan.ptr.tolist() == [0, 2, 5] and plan.sources.tolist() == [0, 2, 3, 1, 3]
    assert plan.order.tolist() == [0, 1] and plan.output_ids == ["f"] and plan.max_arity == 3


def test_gates_listed_out_of_order_get_a_topological_order():
    plan = compile_graph(["x"], {}, _columns(("f", "mul", ["g", "x"]), ("g", "add", ["x", "x"])))
    order = plan.order.tolist()
    assert order.index(1) < order.index(0)  # g before f, which reads it


def test_outputs_as_listed_or_every_gate_nobody_reads():
    gates = _columns(("a", "add", ["x", "x"]), ("b", "mul", ["a", "x"]), ("c", "add", ["x", "x"]))
    assert compile_graph(["x"], {}, gates).output_ids == ["b", "c"]
    assert compile_graph(["x"], {}, gates, ["a", "x"]).output_ids == ["a", "x"]


def test_reference_problems_are_all_reported_with_paths():
    gates = _columns(("q", "add", ["x", "nope"]), ("x", "mul", ["q", "also"]))
    with pytest.raises(InvalidInput) as caught:
        compile_graph(["x"], {}, gates, ["missing"])
    paths = {p.path for p in caught.value.problems}
    assert paths == {"gates[1].id", "gates[0].inputs[1]", "gates[1].inputs[1]", "outputs[0]"}


def test_a_cycle_is_named_along_the_flow():
    with pytest.raises(InvalidInput) as caught:
        compile_graph(["x"], {}, _columns(("a", "add", ["b", "x"]), ("b", "mul", ["a", "x"])))
    (problem,) = caught.value.problems
    assert problem.path == "gates[0]" and "a -> b -> a" in problem.message


def test_arrays_have_the_kernels_types():
    plan = compile_graph(["x"], {"c": 1.5}, _columns(("q", "add", ["x", "c"])))
    assert plan.ops.dtype == np.uint8 and plan.sources.dtype == np.int32 and plan.ptr.dtype == np.int64
    assert plan.constants.dtype == np.float64 and plan.order.dtype == np.int32


@pytest.mark.parametrize("bad", ["a\nb", "é"])
def test_ids_that_skipped_validation_are_refused_not_misread(bad):
    with pytest.raises(ValueError):  # UnicodeEncodeError is one
        compile_graph([bad], {}, _columns(("q", "add", ["x", "x"])))
