"""The gradient check against central finite differences finds wrong gradients and passes right ones."""

import numpy as np

from service.graph import bind_inputs, evaluate, load_graph
from service.graph.gradcheck import check_gradients

DEFINITION = {
    "inputs": ["x", "y", "z"],
    "constants": {"c": 0.5},
    "gates": [
        {"id": "q", "op": "mul", "inputs": ["x", "y", "x"]},
        {"id": "r", "op": "add", "inputs": ["q", "z", "c"]},
        {"id": "f", "op": "mul", "inputs": ["r", "r"]},
    ],
}


def setup(inputs):
    plan = load_graph(DEFINITION)
    bound = bind_inputs(plan, inputs)
    return plan, bound, evaluate(plan, bound.values, bound.output_grads)


def test_correct_gradients_agree_with_finite_differences():
    plan, bound, result = setup({"x": 1.3, "y": -0.7, "z": 2.0})
    report = check_gradients(plan, bound.values, bound.output_grads, result.grads)
    assert report.inputs_checked == 3 and report.max_rel_error < 1e-7


def test_a_wrong_gradient_is_found_and_named():
    plan, bound, result = setup({"x": [1.3, 0.2], "y": [-0.7, 3.0], "z": [2.0, 1.0]})
    grads = result.grads.copy()
    grads[plan.index["y"], 1] *= 1.01
    report = check_gradients(plan, bound.values, bound.output_grads, grads)
    assert report.node == "y" and 0.005 < report.max_rel_error < 0.02 and report.columns_checked == 2


def test_only_the_first_inputs_are_checked():
    plan, bound, result = setup({"x": 1.0, "y": 2.0, "z": 3.0})
    assert check_gradients(plan, bound.values, bound.output_grads, result.grads, max_inputs=2).inputs_checked == 2


def test_non_finite_loss_is_reported_not_hidden():
    plan, bound, result = setup({"x": 1e200, "y": 1e200, "z": 0.0})
    report = check_gradients(plan, bound.values, bound.output_grads, result.grads)
    assert np.isnan(report.max_rel_error) or np.isinf(report.max_rel_error)


def test_gates_listed_out_of_order_are_checked_in_the_plans_numbering():
    listed = {**DEFINITION, "gates": DEFINITION["gates"][::-1]}
    plan = load_graph(listed)
    bound = bind_inputs(plan, {"x": 1.3, "y": -0.7, "z": 2.0})
    result = evaluate(plan, bound.values, bound.output_grads)
    report = check_gradients(plan, bound.values, bound.output_grads, result.grads)
    assert plan.layout.row_of is not None and report.max_rel_error < 1e-7
