"""The compiled loops: per-wire gradients, wide gates in blocks of columns, and the two kinds of kernel agreeing.

Values come from the exact Fraction oracle (tests/oracle.py); inputs are small integers, so every
float64 result here is exact and compared for equality.
"""

from fractions import Fraction
from math import prod

import numpy as np
import pytest

from service.graph import engine, evaluate, load_graph
from service.graph.engine import wire_grads
from tests.oracle import exact

WIDE = {
    "inputs": ["x", "y", "z"],
    "constants": {"two": 2.0},
    "gates": [
        {"id": "p", "op": "mul", "inputs": ["x", "y", "x", "z", "two"]},
        {"id": "s", "op": "add", "inputs": ["p", "y", "z", "x"]},
        {"id": "q", "op": "mul", "inputs": ["s", "z"]},
        {"id": "r", "op": "add", "inputs": ["q", "q"]},
    ],
}
ASSIGNMENTS = [
    {"x": -2, "y": 5, "z": -4},
    {"x": 0, "y": 3, "z": 1},
    {"x": 1, "y": 0, "z": 0},
    {"x": 3, "y": -1, "z": 2},
]


def test_wire_grads_are_each_gates_share_and_sum_to_the_node_gradients():
    plan = load_graph(WIDE)
    for assignment in ASSIGNMENTS:
        values, grads = exact(WIDE, assignment)
        result = evaluate(plan, np.array([[assignment[i]] for i in plan.input_ids], dtype=float))
        shares = wire_grads(plan, result.values[:, 0], result.grads[:, 0])
        expected = []
        for gate in WIDE["gates"]:
            inputs = gate["inputs"]
            for k in range(len(inputs)):
                others = inputs[:k] + inputs[k + 1 :]
                local = Fraction(1) if gate["op"] == "add" else prod((values[o] for o in others), start=Fraction(1))
                expected.append(grads[gate["id"]] * local)
        assert shares.tolist() == [float(e) for e in expected]
        into = np.zeros(plan.n_nodes)
        np.add.at(into, plan.sources, shares)  # a node's gradient: its wires, plus its seed if an output
        into[plan.outputs] += 1.0
        assert into.tolist() == result.grads[:, 0].tolist()


@pytest.mark.parametrize("scratch_cells", [1, 7, 1 << 18])
def test_wide_gates_in_a_batch_give_the_scalar_results_whatever_the_block(monkeypatch, scratch_cells):
    monkeypatch.setattr(engine, "SCRATCH_CELLS", scratch_cells)  # blocks of one column, of one, of all
    plan = load_graph(WIDE)
    batch = np.array([[a[i] for a in ASSIGNMENTS] for i in plan.input_ids], dtype=float)
    together = evaluate(plan, batch)
    for b, assignment in enumerate(ASSIGNMENTS):
        values, grads = exact(WIDE, assignment)
        assert together.values[:, b].tolist() == [float(values[i]) for i in plan.ids]
        assert together.grads[:, b].tolist() == [float(grads[i]) for i in plan.ids]


def test_batch_kernels_at_one_column_agree_with_the_one_assignment_kernels():
    from service.graph import kernels

    plan = load_graph(WIDE)
    x = np.array([[-2.0], [5.0], [-4.0]])
    one = evaluate(plan, x)
    values = np.empty((plan.n_nodes, 1))
    values[:3] = x
    values[3] = 2.0
    grads = np.zeros_like(values)
    grads[plan.outputs] = 1.0
    layout = plan.layout
    arrays = (layout.ops, layout.ptr, layout.sources, layout.first_gate)
    kernels.forward_batch(*arrays, values)
    kernels.backward_batch(*arrays, values, grads, np.empty((plan.max_arity + 1, 1)))
    assert values.tolist() == one.values.tolist() and grads.tolist() == one.grads.tolist()


def test_the_binary_kernels_agree_with_the_general_ones():
    from service.graph import kernels

    rng = np.random.default_rng(5)
    nodes = ["n0", "n1", "n2"]
    gates = []
    for i in range(40):
        inputs = [str(n) for n in rng.choice(nodes, 2)]  # a gate may read one node twice
        gates.append({"id": f"g{i}", "op": ("add", "mul")[int(rng.integers(2))], "inputs": inputs})
        nodes.append(f"g{i}")
    plan = load_graph({"inputs": ["n0", "n1", "n2"], "gates": gates})
    layout = plan.layout
    assert layout.binary
    results = []
    for pairs in (True, False):
        buffer = np.zeros((plan.n_nodes, 2))
        buffer[:3, 0] = [0.5, -1.25, 2.0]
        buffer[layout.outputs, 1] = 1.0
        if pairs:
            kernels.forward_pairs(layout.ops, layout.sources, layout.first_gate, buffer)
            kernels.backward_pairs(layout.ops, layout.sources, layout.first_gate, buffer)
        else:
            arrays = (layout.ops, layout.ptr, layout.sources, layout.first_gate)
            kernels.forward_one(*arrays, buffer)
            kernels.backward_one(*arrays, buffer, np.empty(2))
        results.append(buffer)
    assert results[0].tolist() == results[1].tolist()


def test_passes_on_buffers_of_any_layout_agree_with_evaluate():
    plan = load_graph(WIDE)
    x = np.array([[3.0], [-1.0], [2.0]])
    one = evaluate(plan, x)
    for values, grads in (engine.new_buffers(plan, 1), (np.empty((plan.n_nodes, 1)), np.zeros((plan.n_nodes, 1)))):
        values[:3] = x
        values[3] = 2.0
        grads[plan.outputs] = 1.0
        engine.forward(plan, values)
        engine.backward(plan, values, grads)
        assert values.tolist() == one.values.tolist() and grads.tolist() == one.grads.tolist()
