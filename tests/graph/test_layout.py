"""The kernels' layout of a plan: its own arrays when its gates are in order, else renumbered once and mapped back."""

import numpy as np

from service.graph import evaluate, load_graph
from service.graph.layout import layout_of

IN_ORDER = {
    "inputs": ["x", "y"],
    "constants": {"c": 3.0},
    "gates": [
        {"id": "q", "op": "add", "inputs": ["x", "c"]},
        {"id": "f", "op": "mul", "inputs": ["q", "y", "q"]},
        {"id": "h", "op": "mul", "inputs": ["f", "x"]},
    ],
}
# the same gates listed last first: every gate reads one listed after it
REVERSED = {**IN_ORDER, "gates": IN_ORDER["gates"][::-1]}


def test_a_plan_in_topological_order_is_run_on_its_own_arrays():
    plan = load_graph(IN_ORDER)
    layout = plan.layout
    assert layout.node_of is None and layout.row_of is None and not layout.binary
    assert layout.sources is plan.sources and layout.ops is plan.ops and layout.ptr is plan.ptr
    assert plan.layout is layout  # built once


def test_a_plan_out_of_order_is_renumbered_so_that_gate_t_reads_only_earlier_rows():
    plan = load_graph(REVERSED)
    layout = layout_of(plan)
    assert plan.ids[plan.first_gate :] == ["h", "f", "q"]  # the plan keeps the definition's numbering
    assert layout.node_of.tolist() == [0, 1, 2, 5, 4, 3] and layout.row_of[layout.node_of].tolist() == list(range(6))
    reader = np.repeat(np.arange(layout.first_gate, plan.n_nodes), np.diff(layout.ptr))
    assert (layout.sources < reader).all()
    # each gate reads the same nodes as in the plan, renamed
    for t in range(plan.n_gates):
        g = layout.node_of[layout.first_gate + t] - plan.first_gate
        plan_reads = plan.sources[plan.ptr[g] : plan.ptr[g + 1]]
        assert layout.node_of[layout.sources[layout.ptr[t] : layout.ptr[t + 1]]].tolist() == plan_reads.tolist()
        assert layout.ops[t] == plan.ops[g]
    assert layout.node_of[layout.outputs].tolist() == plan.outputs.tolist()


def test_results_leave_evaluate_in_the_plans_numbering_whatever_the_listing():
    x, tangents = np.array([[2.0, -1.0], [5.0, 0.5]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    for batch in (1, 2):
        results = {}
        for name, definition in (("in order", IN_ORDER), ("reversed", REVERSED)):
            plan = load_graph(definition)
            plain = evaluate(plan, x[:, :batch])
            along = evaluate(plan, x[:, :batch], tangents=tangents[:, :batch])
            arrays = (plain.values, plain.grads, along.tangents, along.grad_tangents)
            results[name] = {nid: [a[i].tolist() for a in arrays] for i, nid in enumerate(plan.ids)}
            assert along.values.tolist() == plain.values.tolist() and along.grads.tolist() == plain.grads.tolist()
        assert results["in order"] == results["reversed"]
        assert results["in order"]["h"][0] == [(2.0 + 3.0) ** 2 * 5.0 * 2.0, (-1.0 + 3.0) ** 2 * 0.5 * -1.0][:batch]
