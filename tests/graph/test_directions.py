"""Tangents (forward mode) and gradients' tangents (forward-over-reverse) of every node.

Checked against an independent exact oracle (dual numbers over Fractions, ``tests/oracle.py``)
and against central finite differences of the engine's own values and gradients, which is the
derivative's definition. Random add/mul graphs overflow fast: as in ``test_properties.py``,
graphs are small, numbers small integers, and a case whose exact numbers leave float64's
exact-integer range is discarded, so the oracle comparisons are exact ones.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.graph import InvalidInput, bind_inputs, evaluate, load_graph
from tests.graph.helpers import run, run_directional
from tests.graph.test_properties import EXACT_LIMIT, graphs, outputs_of, small_ints
from tests.oracle import exact_directional

WORKED = json.loads((Path(__file__).parents[1] / "data" / "cs231n.json").read_text())


def _exactly(got: dict[str, float], want: dict[str, Fraction]) -> None:
    assert got == {k: float(v) for k, v in want.items()}


def test_worked_example_along_x_is_as_spec_states():
    values, grads, tangents, grad_tangents = run_directional(WORKED["graph"], WORKED["inputs"], {"x": 1})
    assert tangents == {"x": 1.0, "y": 0.0, "z": 0.0, "q": 1.0, "f": -4.0}  # tangent(f) = z
    assert grad_tangents == {"x": 0.0, "y": 0.0, "z": 1.0, "q": 0.0, "f": 0.0}  # d(x + y)/dx at z
    assert (values, grads) == run(WORKED["graph"], WORKED["inputs"])  # a direction changes neither


def test_worked_example_along_z_and_a_mixed_direction():
    _, _, tangents, grad_tangents = run_directional(WORKED["graph"], WORKED["inputs"], {"x": 1, "z": -0.5})
    # f = (x + y) z: tangent(f) = z dx + (x + y) dz = -4 - 1.5; grad(x) = grad(y) = z moves by dz,
    # grad(z) = x + y moves by dx, grad(q) = z moves by dz
    assert tangents == {"x": 1.0, "y": 0.0, "z": -0.5, "q": 1.0, "f": -5.5}
    assert grad_tangents == {"x": -0.5, "y": -0.5, "z": 1.0, "q": -0.5, "f": 0.0}


@pytest.mark.parametrize("x, v", [(3.0, 2.0), (0.0, 1.0), (-1.5, 0.25)])
def test_cube_has_grad_tangent_six_x_v(x, v):
    definition = {"inputs": ["x"], "gates": [{"id": "c", "op": "mul", "inputs": ["x", "x", "x"]}]}
    values, grads, tangents, grad_tangents = run_directional(definition, {"x": x}, {"x": v})
    assert values["c"] == x**3 and grads["x"] == 3 * x**2
    assert tangents["c"] == 3 * x**2 * v
    assert grad_tangents["x"] == 6 * x * v


@pytest.mark.parametrize("batched", [False, True])
def test_zeros_inside_a_wide_mul_are_exact(batched):
    # two zero inputs: every partial is 0, but the partials' tangents are not
    definition = {"inputs": ["a", "b", "c", "d"], "gates": [{"id": "m", "op": "mul", "inputs": ["a", "b", "c", "d"]}]}
    inputs = {"a": 0, "b": 3, "c": 0, "d": -2}
    direction = {"a": 1, "b": 5, "c": -1, "d": 7}
    want = exact_directional(definition, inputs, direction)
    if batched:
        inputs, direction = {k: [v, v] for k, v in inputs.items()}, {k: [v, v] for k, v in direction.items()}
    got = run_directional(definition, inputs, direction)
    for numbers, expected in zip(got, want, strict=True):
        for k, v in expected.items():
            assert np.all(np.asarray(numbers[k]) == float(v)), k
    assert want[3]["a"] == Fraction(3 * -1 * -2)  # d(b c d) = b dc d: not 0


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_tangents_and_grad_tangents_equal_the_dual_number_oracle(data):
    definition = data.draw(graphs())
    inputs = data.draw(small_ints(definition["inputs"]))
    direction = data.draw(st.fixed_dictionaries({}, optional={n: st.integers(-3, 3) for n in definition["inputs"]}))
    seeds = data.draw(st.fixed_dictionaries({}, optional={o: st.integers(-2, 2) for o in outputs_of(definition)}))
    want = exact_directional(definition, inputs, direction, seeds)
    assume(all(abs(v) < EXACT_LIMIT for numbers in want for v in numbers.values()))
    got = run_directional(definition, inputs, direction, seeds)
    for numbers, expected in zip(got, want, strict=True):
        _exactly(numbers, expected)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_tangents_match_central_finite_differences_of_the_engine(data):
    """d/dt of every value and gradient at x + t v, by central differences of float runs of the engine."""
    definition = data.draw(graphs(max_gates=10))
    floats = st.floats(-1.5, 1.5, allow_nan=False).map(lambda v: round(v, 3))
    inputs = data.draw(st.fixed_dictionaries({n: floats for n in definition["inputs"]}))
    direction = data.draw(st.fixed_dictionaries({n: floats for n in definition["inputs"]}))
    values, grads, tangents, grad_tangents = run_directional(definition, inputs, direction)
    h = 1e-5
    up_values, up_grads = run(definition, {k: x + h * direction[k] for k, x in inputs.items()})
    down_values, down_grads = run(definition, {k: x - h * direction[k] for k, x in inputs.items()})
    numbers = [*values.values(), *grads.values(), *tangents.values(), *grad_tangents.values()]
    assume(all(np.isfinite(numbers)))
    tolerance = 1e-6 * (1 + max(abs(v) for v in numbers))  # rounding / h and h^2 f''' stay far below this
    for name in values:
        assert abs((up_values[name] - down_values[name]) / (2 * h) - tangents[name]) <= tolerance, name
        assert abs((up_grads[name] - down_grads[name]) / (2 * h) - grad_tangents[name]) <= tolerance, name


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_batch_equals_its_columns_run_one_by_one(data):
    definition = data.draw(graphs(max_gates=12))
    batch_size = data.draw(st.integers(2, 5))
    column = st.lists(st.integers(-3, 3), min_size=batch_size, max_size=batch_size)
    inputs = data.draw(st.fixed_dictionaries({n: column for n in definition["inputs"]}))
    direction = data.draw(st.fixed_dictionaries({n: column for n in definition["inputs"]}))
    plan = load_graph(definition)
    bound = bind_inputs(plan, inputs, tangents=direction)
    batch = evaluate(plan, bound.values, bound.output_grads, bound.tangents)
    for b in range(batch_size):
        one = evaluate(plan, bound.values[:, [b]], bound.output_grads[:, [b]], bound.tangents[:, [b]])
        for name in ("values", "grads", "tangents", "grad_tangents"):
            np.testing.assert_array_equal(getattr(batch, name)[:, [b]], getattr(one, name), err_msg=name)


def test_fan_out_and_repeated_inputs_accumulate_edge_by_edge():
    # x feeds m twice and s once; f = m * s = x^2 (x + y)
    definition = {
        "inputs": ["x", "y"],
        "gates": [
            {"id": "m", "op": "mul", "inputs": ["x", "x"]},
            {"id": "s", "op": "add", "inputs": ["x", "y", "x"]},
            {"id": "f", "op": "mul", "inputs": ["m", "s"]},
        ],
    }
    inputs, direction = {"x": 2, "y": -3}, {"x": 1, "y": 2}
    got = run_directional(definition, inputs, direction)
    for numbers, expected in zip(got, exact_directional(definition, inputs, direction), strict=True):
        _exactly(numbers, expected)


def test_overflow_follows_ieee_and_a_constant_partial_adds_no_nan():
    definition = {
        "inputs": ["x", "y"],
        "constants": {"big": 1e308},
        "gates": [
            {"id": "g", "op": "add", "inputs": ["x", "y"]},
            {"id": "f", "op": "mul", "inputs": ["g", "big"]},
        ],
    }
    values, grads, tangents, grad_tangents = run_directional(definition, {"x": 1, "y": 2}, {"x": 1}, {"f": 10})
    assert values["f"] == np.inf and grads["g"] == np.inf and grads["x"] == np.inf
    assert tangents["f"] == 1e308 and tangents["g"] == 1.0  # d(g big) = big dg
    # grad(big) = 10 g moves by 10 dg; grad(g) = 10 big does not move, and add passes that 0 on to
    # x and y: 0, not 0 + inf * (add's constant partial's tangent, 0) = NaN
    assert grad_tangents == {"x": 0.0, "y": 0.0, "big": 10.0, "g": 0.0, "f": 0.0}


def test_a_deep_chain_runs_without_recursion():
    n = 200_000
    gates = [{"id": "g0", "op": "mul", "inputs": ["x", "one"]}]
    gates += [{"id": f"g{i}", "op": "add" if i % 2 else "mul", "inputs": [f"g{i - 1}", "one"]} for i in range(1, n)]
    plan = load_graph({"inputs": ["x"], "constants": {"one": 1.0}, "gates": gates})
    result = evaluate(plan, np.array([[0.5]]), tangents=np.array([[1.0]]))
    # each mul by 1 and add of 1 moves value by a constant: d(last)/dx = 1, and the loss is linear
    assert result.tangents[-1, 0] == 1.0 and result.grads[0, 0] == 1.0 and result.grad_tangents[0, 0] == 0.0


def test_no_direction_means_no_tangents():
    plan = load_graph(WORKED["graph"])
    bound = bind_inputs(plan, WORKED["inputs"])
    assert bound.tangents is None
    result = evaluate(plan, bound.values, bound.output_grads)
    assert result.tangents is None and result.grad_tangents is None


@pytest.mark.parametrize(
    "inputs, tangents, path, message",
    [
        ({"x": 1, "y": 2, "z": 3}, {"w": 1}, "tangents.w", "is not an input of this graph"),
        ({"x": 1, "y": 2, "z": 3}, {"q": 1}, "tangents.q", "is not an input of this graph"),
        ({"x": 1, "y": 2, "z": 3}, {"x": "Infinity"}, "tangents.x", "number"),
        ({"x": 1, "y": 2, "z": 3}, {"x": [1]}, "tangents.x", "number"),
        ({"x": 1, "y": 2, "z": 3}, [1, 2, 3], "tangents", "must be an object of input id: number, not an array"),
        ({"x": [1, 2], "y": [2, 3], "z": [3, 4]}, {"x": [1]}, "tangents.x", "has 1 values; the batch size is 2"),
        ({"x": [1, 2], "y": [2, 3], "z": [3, 4]}, {"x": [1, None]}, "tangents.x[1]", "number"),
    ],
)
def test_bad_tangents_are_named_by_path(inputs, tangents, path, message):
    plan = load_graph(WORKED["graph"])
    with pytest.raises(InvalidInput) as caught:
        bind_inputs(plan, inputs, tangents=tangents)
    problems = {p.path: p.message for p in caught.value.problems}
    assert path in problems and message in problems[path], problems


def test_every_problem_of_output_grads_and_tangents_in_one_answer():
    plan = load_graph(WORKED["graph"])
    with pytest.raises(InvalidInput) as caught:
        bind_inputs(plan, {"x": 1, "y": 2, "z": 3}, {"nope": 1}, tangents={"w": 1})
    assert {p.path for p in caught.value.problems} == {"output_grads.nope", "tangents.w"}


def test_a_number_in_a_batch_direction_applies_to_every_item():
    plan = load_graph(WORKED["graph"])
    bound = bind_inputs(plan, {"x": [1, 2], "y": [2, 3], "z": [3, 4]}, tangents={"x": 1, "z": [0, 2]})
    np.testing.assert_array_equal(bound.tangents, [[1, 1], [0, 0], [0, 2]])
