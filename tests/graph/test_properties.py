"""Property tests: random graphs against an exact Fraction oracle and central finite differences.

Random add/mul graphs overflow fast, so graphs are small and inputs small integers; any case
whose exact values leave float64's exact-integer range is discarded, so every comparison
below is an exact one and cannot pass by tolerance alone.
"""

from fractions import Fraction

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.graph.helpers import run
from tests.oracle import exact

EXACT_LIMIT = 2**52


@st.composite
def graphs(draw, max_gates=20):
    n_inputs = draw(st.integers(1, 4))
    n_constants = draw(st.integers(0, 2))
    n_gates = draw(st.integers(1, max_gates))
    inputs = [f"x{i}" for i in range(n_inputs)]
    constants = {f"c{i}": draw(st.integers(-3, 3)) for i in range(n_constants)}
    nodes = inputs + list(constants)
    gates = []
    for g in range(n_gates):
        arity = draw(st.integers(2, 4))
        srcs = draw(st.lists(st.sampled_from(nodes), min_size=arity, max_size=arity))
        gates.append({"id": f"g{g}", "op": draw(st.sampled_from(["add", "mul"])), "inputs": srcs})
        nodes.append(f"g{g}")
    order = draw(st.permutations(range(n_gates)))  # gates may be listed in any order
    definition = {"inputs": inputs, "constants": constants, "gates": [gates[i] for i in order]}
    if draw(st.booleans()):
        definition["outputs"] = draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=3, unique=True))
    return definition


def small_ints(names):
    return st.fixed_dictionaries({n: st.integers(-3, 3) for n in names})


def outputs_of(definition):
    from service.graph import load_graph

    return load_graph(definition).output_ids


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_values_and_grads_equal_the_exact_oracle(data):
    definition = data.draw(graphs())
    inputs = data.draw(small_ints(definition["inputs"]))
    seeds = data.draw(st.fixed_dictionaries({}, optional={o: st.integers(-2, 2) for o in outputs_of(definition)}))
    want_values, want_grads = exact(definition, inputs, seeds)
    assume(all(abs(v) < EXACT_LIMIT for v in [*want_values.values(), *want_grads.values()]))
    values, grads = run(definition, inputs, seeds)
    assert values == {k: float(v) for k, v in want_values.items()}
    assert grads == {k: float(v) for k, v in want_grads.items()}


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_grads_match_central_finite_differences(data):
    definition = data.draw(graphs(max_gates=12))
    floats = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))
    inputs = data.draw(st.fixed_dictionaries({n: floats for n in definition["inputs"]}))
    values, grads = run(definition, inputs)
    outputs = outputs_of(definition)
    h = Fraction(1, 10**12)  # exact arithmetic: no rounding error, so the step can be tiny

    def loss(at):
        vals, _ = exact(definition, at)
        return sum(vals[o] for o in outputs)

    for name in definition["inputs"]:
        up = {**inputs, name: Fraction(inputs[name]) + h}
        down = {**inputs, name: Fraction(inputs[name]) - h}
        slope = float((loss(up) - loss(down)) / (2 * h))
        # a central difference is off by O(h^2 f'''), about 1e-24 x f''' here: far below the tolerance
        assert np.isclose(grads[name], slope, rtol=1e-9, atol=1e-9), (name, grads[name], slope)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_batch_equals_its_scalar_runs(data):
    definition = data.draw(graphs())
    width = data.draw(st.integers(1, 5))
    columns = [data.draw(small_ints(definition["inputs"])) for _ in range(width)]
    batch = {n: [c[n] for c in columns] for n in definition["inputs"]}
    values, grads = run(definition, batch)
    for b, column in enumerate(columns):
        one_values, one_grads = run(definition, column)
        for nid in one_values:
            np.testing.assert_array_equal(values[nid][b], one_values[nid], err_msg=nid)
            np.testing.assert_array_equal(grads[nid][b], one_grads[nid], err_msg=nid)
