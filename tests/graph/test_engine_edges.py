"""Each semantic edge case of SPEC.md as its own test, against hand-derived answers."""

import math
import sys

import numpy as np
import pytest

from service.graph import bind_inputs, evaluate, load_graph
from tests.graph.helpers import run


def gate(gid, op, *inputs):
    return {"id": gid, "op": op, "inputs": list(inputs)}


def test_repeated_input_squares_and_doubles_the_gradient():
    values, grads = run({"inputs": ["x"], "gates": [gate("s", "mul", "x", "x")]}, {"x": 3})
    assert values["s"] == 9 and grads["x"] == 6  # d(x*x)/dx = 2x


def test_repeated_input_of_add_counts_each_time():
    _, grads = run({"inputs": ["x", "y"], "gates": [gate("s", "add", "x", "x", "x", "y")]}, {"x": 1, "y": 2})
    assert grads["x"] == 3 and grads["y"] == 1


def test_fan_out_accumulates_every_reader():
    d = {
        "inputs": ["x", "y"],
        "gates": [gate("a", "add", "x", "y"), gate("b", "mul", "x", "y"), gate("f", "add", "a", "b")],
    }
    _, grads = run(d, {"x": 2, "y": 5})
    assert grads["x"] == 1 + 5 and grads["y"] == 1 + 2


def test_mul_gradient_is_exact_when_one_input_is_zero():
    _, grads = run({"inputs": ["x", "y", "z"], "gates": [gate("p", "mul", "x", "y", "z")]}, {"x": 0, "y": 3, "z": 4})
    assert grads == {"x": 12.0, "y": 0.0, "z": 0.0, "p": 1.0}


def test_mul_gradient_is_exact_when_two_inputs_are_zero():
    _, grads = run({"inputs": ["x", "y", "z"], "gates": [gate("p", "mul", "x", "y", "z")]}, {"x": 0, "y": 0, "z": 4})
    assert grads["x"] == 0 and grads["y"] == 0 and grads["z"] == 0
    assert not any(math.isnan(g) for g in grads.values())


def test_binary_mul_with_zero_has_no_nan():
    _, grads = run({"inputs": ["x", "y"], "gates": [gate("p", "mul", "x", "y")]}, {"x": 0, "y": 7})
    assert grads["x"] == 7 and grads["y"] == 0


def test_n_ary_gates():
    d = {
        "inputs": ["a", "b", "c", "d"],
        "gates": [gate("s", "add", "a", "b", "c", "d"), gate("p", "mul", "a", "b", "c", "d")],
    }
    values, grads = run(d, {"a": 1, "b": 2, "c": 3, "d": 4})
    assert values["s"] == 10 and values["p"] == 24
    assert [grads[k] for k in "abcd"] == [1 + 24, 1 + 12, 1 + 8, 1 + 6]


def test_output_grads_scale_the_loss():
    d = {"inputs": ["x", "y"], "gates": [gate("a", "add", "x", "y"), gate("b", "mul", "x", "y")], "outputs": ["a", "b"]}
    _, grads = run(d, {"x": 2, "y": 5}, {"a": 10, "b": -1})
    assert grads["x"] == 10 - 5 and grads["y"] == 10 - 2 and grads["a"] == 10 and grads["b"] == -1


def test_an_output_read_by_another_gate_gets_both_contributions():
    d = {"inputs": ["x"], "gates": [gate("a", "add", "x", "x"), gate("b", "mul", "a", "a")], "outputs": ["a", "b"]}
    _, grads = run(d, {"x": 1})
    assert grads["a"] == 1 + 2 * 2  # seed 1 plus d(a*a)/da = 2a = 4


def test_default_outputs_are_the_gates_nobody_reads():
    d = {
        "inputs": ["x", "y"],
        "gates": [gate("a", "add", "x", "y"), gate("b", "mul", "a", "y"), gate("c", "add", "a", "x")],
    }
    plan = load_graph(d)
    assert plan.output_ids == ["b", "c"]


def test_an_input_may_be_an_output():
    d = {"inputs": ["x", "y"], "gates": [gate("a", "mul", "x", "y")], "outputs": ["a", "x"]}
    _, grads = run(d, {"x": 2, "y": 3})
    assert grads["x"] == 3 + 1


def test_constants_have_values_and_gradients():
    d = {"inputs": ["x"], "constants": {"two": 2.0}, "gates": [gate("f", "mul", "x", "two")]}
    values, grads = run(d, {"x": 5})
    assert values["two"] == 2 and grads["two"] == 5 and grads["x"] == 2


def test_unused_input_has_zero_gradient():
    d = {"inputs": ["x", "y", "unused"], "gates": [gate("f", "add", "x", "y")]}
    _, grads = run(d, {"x": 1, "y": 2, "unused": 9})
    assert grads["unused"] == 0


def test_gates_in_any_order():
    d = {"inputs": ["x", "y", "z"], "gates": [gate("f", "mul", "q", "z"), gate("q", "add", "x", "y")]}
    values, grads = run(d, {"x": -2, "y": 5, "z": -4})
    assert values == {"x": -2, "y": 5, "z": -4, "f": -12, "q": 3}
    assert grads == {"x": -4, "y": -4, "z": 3, "f": 1, "q": -4}


def test_overflow_follows_ieee_without_errors():
    d = {"inputs": ["x"], "gates": [gate("a", "mul", "x", "x"), gate("b", "mul", "a", "a"), gate("c", "add", "b", "b")]}
    values, grads = run(d, {"x": 1e150})
    assert values["b"] == math.inf and values["c"] == math.inf
    assert grads["a"] == pytest.approx(4e300) and grads["x"] == math.inf  # 2 * 2a * 2x


def test_inf_times_zero_is_nan_in_values_and_gradients():
    d = {
        "inputs": ["x", "y", "w"],
        "gates": [gate("a", "mul", "x", "x"), gate("b", "mul", "a", "y"), gate("c", "mul", "b", "w")],
    }
    values, grads = run(d, {"x": 1e200, "y": 0, "w": 2})
    assert values["a"] == math.inf and math.isnan(values["b"]) and math.isnan(values["c"])
    assert math.isnan(grads["w"])  # dc/dw = b


def test_deep_chain_of_a_million_gates_does_not_recurse():
    n = 1_000_000
    gates = [gate("g0", "add", "x", "x")] + [gate(f"g{i}", "add", f"g{i - 1}", "one") for i in range(1, n)]
    d = {"inputs": ["x"], "constants": {"one": 1.0}, "gates": gates}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion over the chain would fail loudly
    try:
        values, grads = run(d, {"x": 0.5})
    finally:
        sys.setrecursionlimit(limit)
    assert values[f"g{n - 1}"] == 1.0 + (n - 1)
    assert grads["x"] == 2 and grads["one"] == n - 1


def test_deep_chain_listed_backwards_is_ordered_without_recursion():
    n = 200_000
    gates = [gate(f"g{i}", "mul", f"g{i - 1}", "one") for i in range(n - 1, 0, -1)] + [gate("g0", "add", "x", "one")]
    d = {"inputs": ["x"], "constants": {"one": 1.0}, "gates": gates}
    values, grads = run(d, {"x": 2})
    assert values[f"g{n - 1}"] == 3 and grads["x"] == 1


def test_batch_gives_one_value_per_assignment():
    d = {"inputs": ["x", "y", "z"], "gates": [gate("q", "add", "x", "y"), gate("f", "mul", "q", "z")]}
    values, grads = run(d, {"x": [-2, 1], "y": [5, 2], "z": [-4, 3]})
    assert values["f"].tolist() == [-12, 9]
    assert grads["z"].tolist() == [3, 3] and grads["x"].tolist() == [-4, 3]


def test_batch_output_grads_may_be_numbers_or_arrays():
    d = {"inputs": ["x", "y"], "gates": [gate("a", "mul", "x", "y"), gate("b", "add", "x", "y")]}
    _, grads = run(d, {"x": [1, 2], "y": [3, 4]}, {"a": [1, 10], "b": 2})
    assert grads["x"].tolist() == [3 + 2, 40 + 2]


def test_batch_of_one_is_still_an_array():
    plan = load_graph({"inputs": ["x", "y"], "gates": [gate("a", "mul", "x", "y")]})
    bound = bind_inputs(plan, {"x": [2], "y": [3]})
    assert bound.batched and bound.batch_size == 1


def test_wide_mul_in_a_batch_uses_prefix_and_suffix_products():
    d = {"inputs": ["a", "b", "c"], "gates": [gate("p", "mul", "a", "b", "c", "a")]}
    _, grads = run(d, {"a": [0, 2], "b": [5, 3], "c": [7, 0]})
    assert grads["a"].tolist() == [0, 0] and grads["b"].tolist() == [0, 0]
    assert grads["c"].tolist() == [0, 12]


def test_evaluate_refuses_inputs_of_the_wrong_shape():
    plan = load_graph({"inputs": ["x", "y"], "gates": [gate("a", "mul", "x", "y")]})
    with pytest.raises(ValueError, match="shape"):
        evaluate(plan, np.zeros((3, 1)))
