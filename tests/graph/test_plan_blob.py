"""Plans to bytes and back: every array exactly, and blobs written before the edge array was renamed."""

import io

import numpy as np

from service.graph import load_graph
from service.graph.plan_blob import plan_from_bytes, plan_to_bytes

DEFINITION = {
    "name": "n",
    "inputs": ["x", "y"],
    "constants": {"c": -0.5},
    "gates": [{"id": "f", "op": "mul", "inputs": ["q", "y", "q"]}, {"id": "q", "op": "add", "inputs": ["x", "c"]}],
}
ARRAYS = ("constants", "ops", "ptr", "sources", "order", "outputs")


def test_a_plan_round_trips_exactly():
    plan = load_graph(DEFINITION)
    back = plan_from_bytes(plan_to_bytes(plan), plan.ids, plan.name)
    for name in ARRAYS:
        a, b = getattr(plan, name), getattr(back, name)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), name
    assert (back.n_inputs, back.max_arity, back.name) == (2, 3, "n")


def test_blobs_that_call_the_edges_args_still_load():
    plan = load_graph(DEFINITION)
    buffer = io.BytesIO()
    arrays = {name: getattr(plan, name) for name in ARRAYS if name != "sources"}
    np.savez(buffer, meta=np.array([plan.n_inputs, plan.max_arity]), args=plan.sources, **arrays)
    assert plan_from_bytes(buffer.getvalue(), plan.ids).sources.tolist() == plan.sources.tolist()
