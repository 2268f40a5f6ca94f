"""Run a definition through the core the way the service does: load, bind, evaluate."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.graph import bind_inputs, evaluate, load_graph


def run(definition: dict[str, Any], inputs: dict[str, Any], output_grads: dict[str, Any] | None = None):
    """Return (values, grads) as dicts of id -> float (or -> array for a batch)."""
    return _run(definition, inputs, output_grads, None)


def run_directional(
    definition: dict[str, Any],
    inputs: dict[str, Any],
    tangents: dict[str, Any],
    output_grads: dict[str, Any] | None = None,
):
    """Return (values, grads, tangents, grad_tangents) as dicts of id -> float (or -> array for a batch)."""
    return _run(definition, inputs, output_grads, tangents)


def _run(definition, inputs, output_grads, tangents) -> tuple[dict[str, Any], ...]:
    plan = load_graph(definition)
    bound = bind_inputs(plan, inputs, output_grads, tangents=tangents)
    result = evaluate(plan, bound.values, bound.output_grads, bound.tangents)
    squeeze = (lambda row: row) if bound.batched else (lambda row: float(row[0]))
    arrays = [result.values, result.grads]
    if tangents is not None:
        arrays += [result.tangents, result.grad_tangents]
    return tuple({nid: squeeze(numbers[i]) for i, nid in enumerate(plan.ids)} for numbers in arrays)


def as_float(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items()}


def assert_same(actual: dict[str, Any], expected: dict[str, Any], rel: float = 0.0) -> None:
    assert actual.keys() == expected.keys()
    for k in expected:
        np.testing.assert_allclose(actual[k], float(expected[k]), rtol=rel, atol=0, err_msg=k)
