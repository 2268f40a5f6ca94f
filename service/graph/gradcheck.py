"""Gradient check: compare a job's gradients with central finite differences of the loss.

The engine's own gradients are not the oracle here; the derivative's definition is:
dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h, which needs only forward passes. Up to
``max_inputs`` inputs and ``max_columns`` batch columns are checked; each input costs two
forward passes over those columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import forward, new_buffers
from .plan import Plan

#: cbrt(machine epsilon): balances the O(h^2) truncation and O(eps/h) rounding errors
STEP = float(np.finfo(np.float64).eps) ** (1 / 3)


@dataclass(frozen=True)
class GradientCheck:
    inputs_checked: int
    columns_checked: int
    max_abs_error: float
    max_rel_error: float
    node: str | None  # the input where the largest relative error occurs

    def as_dict(self) -> dict:
        return {
            "inputs_checked": self.inputs_checked,
            "columns_checked": self.columns_checked,
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "node": self.node,
        }


def check_gradients(
    plan: Plan,
    inputs: np.ndarray,
    output_grads: np.ndarray,
    grads: np.ndarray,
    max_inputs: int = 64,
    max_columns: int = 16,
) -> GradientCheck:
    """Largest absolute and relative difference between ``grads`` and central finite differences."""
    n_in = min(plan.n_inputs, max_inputs)
    columns = min(inputs.shape[1], max_columns)
    if n_in == 0:
        return GradientCheck(0, columns, 0.0, 0.0, None)
    seeds = output_grads[:, :columns]
    values, _ = new_buffers(plan, columns)  # the forward pass runs on rows in the kernels' layout
    values[plan.n_inputs : plan.first_gate] = plan.constants[:, None]
    abs_errors, rel_errors = np.empty(n_in), np.empty(n_in)
    for i in range(n_in):
        x = inputs[:, :columns]
        h = STEP * np.maximum(1.0, np.abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        slope = (_loss(plan, values, up, seeds) - _loss(plan, values, down, seeds)) / (up[i] - down[i])
        err = np.abs(grads[i, :columns] - slope)
        scale = np.maximum(np.maximum(np.abs(grads[i, :columns]), np.abs(slope)), 1e-12)
        abs_errors[i], rel_errors[i] = err.max(), (err / scale).max()
    worst = int(np.argmax(np.where(np.isnan(rel_errors), np.inf, rel_errors)))  # NaN: the worst of all
    return GradientCheck(n_in, columns, float(abs_errors.max()), float(rel_errors[worst]), plan.id_of(worst))


def _loss(plan: Plan, values: np.ndarray, inputs: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """L = sum over outputs of seed * value, per column."""
    values[: plan.n_inputs] = inputs
    forward(plan, values)
    return (values[plan.layout.outputs] * seeds).sum(axis=0)
