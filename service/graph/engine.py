"""Forward and backward passes over a Plan, for one assignment or a batch, optionally along a direction.

L = sum over outputs o of output_grads[o] * value(o); the result holds value(n) and
dL/dvalue(n) for every node n. Given a direction v over the inputs (``tangents``), it also holds
each node's tangent, the derivative of value(n) along v (a Jacobian-vector product), and its
gradient's tangent, the derivative of dL/dvalue(n) along v (at an input: a row of H v, the
Hessian of L times v). Overflow follows IEEE float64 (inf, NaN), without errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels, tangent_kernels
from .plan import Plan

SCRATCH_CELLS = 1 << 18  # numbers of scratch for a wide gate in a batch: 2 MiB, within a core's cache


@dataclass(frozen=True)
class Evaluation:
    """Values and gradients of every node, shape (n_nodes, batch_size), in plan node order."""

    values: np.ndarray
    grads: np.ndarray
    tangents: np.ndarray | None = None  # when a direction was given, else None
    grad_tangents: np.ndarray | None = None

    @property
    def batch_size(self) -> int:
        return int(self.values.shape[1])


def evaluate(
    plan: Plan, inputs: np.ndarray, output_grads: np.ndarray | None = None, tangents: np.ndarray | None = None
) -> Evaluation:
    """Run the forward and backward passes.

    ``inputs`` has shape (n_inputs, batch_size); ``output_grads`` (n_outputs, batch_size), or None
    for all ones; ``tangents``, the direction, like ``inputs``, or None for none.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 2 or inputs.shape[0] != plan.n_inputs:
        raise ValueError(f"inputs must have shape ({plan.n_inputs}, batch_size), not {inputs.shape}")
    batch_size = inputs.shape[1]
    if tangents is None:
        values = np.empty((plan.n_nodes, batch_size), dtype=np.float64)
        grads = np.zeros((plan.n_nodes, batch_size), dtype=np.float64)  # fresh zero pages, not a written copy
    else:
        duals = np.zeros((plan.n_nodes, 2, batch_size), dtype=np.float64)  # see directional_passes
        grad_duals = np.zeros((plan.n_nodes, 2, batch_size), dtype=np.float64)  # the output seeds do not move
        values, tans, grads, grad_tans = duals[:, 0], duals[:, 1], grad_duals[:, 0], grad_duals[:, 1]
        tans[: plan.n_inputs] = tangents  # and constants do not move along v either
    values[: plan.n_inputs] = inputs
    values[plan.n_inputs : plan.first_gate] = plan.constants[:, None]
    # outputs are distinct nodes and no gradient has flowed yet: the seed is assigned, not added
    grads[plan.outputs] = 1.0 if output_grads is None else np.asarray(output_grads, dtype=np.float64)
    if tangents is None:
        forward(plan, values)
        backward(plan, values, grads)
        return Evaluation(values, grads)
    directional_passes(plan, duals, grad_duals)
    return Evaluation(values, grads, tans, grad_tans)


def _arrays(plan: Plan) -> tuple:
    """The plan's arrays in the order the kernels take them."""
    return (plan.ops, plan.ptr, plan.sources, plan.order, plan.first_gate)


def forward(plan: Plan, values: np.ndarray) -> None:
    """Fill the gate rows of ``values`` (n_nodes, batch_size) from its input and constant rows."""
    if values.shape[1] == 1:
        kernels.forward_one(*_arrays(plan), values.reshape(-1))
    else:
        kernels.forward_batch(*_arrays(plan), values)


def backward(plan: Plan, values: np.ndarray, grads: np.ndarray) -> None:
    """Accumulate gradients into ``grads`` (n_nodes, batch_size), seeded at the outputs."""
    batch_size = values.shape[1]
    if batch_size == 1:
        scratch = np.empty(plan.max_arity, dtype=np.float64)
        kernels.backward_one(*_arrays(plan), values.reshape(-1), grads.reshape(-1), scratch)
    else:
        # the folds of a wide gate's inputs, for a block of columns: bounded, whatever the arity
        block = min(batch_size, max(1, SCRATCH_CELLS // (plan.max_arity + 1)))
        scratch = np.empty((plan.max_arity + 1, block), dtype=np.float64)
        kernels.backward_batch(*_arrays(plan), values, grads, scratch)


def directional_passes(plan: Plan, duals: np.ndarray, grad_duals: np.ndarray) -> None:
    """``forward`` and ``backward`` with tangents beside values and gradients, in the same two passes.

    ``duals`` is (n_nodes, 2, batch_size): each node's values (``[:, 0]``) beside its tangents
    (``[:, 1]``), inputs and constants filled; ``grad_duals`` the same for gradients and their
    tangents, seeded at the outputs. Side by side, an edge to a random node is one cache miss.
    """
    n_nodes, _, batch_size = duals.shape
    if batch_size == 1:
        pairs, grad_pairs = duals.reshape(n_nodes, 2), grad_duals.reshape(n_nodes, 2)
        tangent_kernels.forward_one(*_arrays(plan), pairs)
        tangent_kernels.backward_one(*_arrays(plan), pairs, grad_pairs, np.empty((2, plan.max_arity)))
    else:
        block = min(batch_size, max(1, SCRATCH_CELLS // (2 * (plan.max_arity + 1))))
        scratch = np.empty((2, plan.max_arity + 1, block), dtype=np.float64)
        tangent_kernels.forward_batch(*_arrays(plan), duals)
        tangent_kernels.backward_batch(*_arrays(plan), duals, grad_duals, scratch)


def wire_grads(plan: Plan, values: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """The gradient flowing back along every edge (``plan.sources``), for one assignment.

    ``values`` and ``grads`` are one column of an Evaluation, shape (n_nodes,); a node's
    gradient is the sum over its outgoing wires (and its seed, for an output).
    """
    out = np.empty(plan.sources.size, dtype=np.float64)
    scratch = np.empty(plan.max_arity, dtype=np.float64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    grads = np.ascontiguousarray(grads, dtype=np.float64)
    kernels.wire_grads_one(plan.ops, plan.ptr, plan.sources, plan.first_gate, values, grads, scratch, out)
    return out


def warm_up() -> None:
    """Load (or compile) every kernel now, so a worker's first job does not pay for it."""
    from .ops import OPS
    from .request_schemas import load_graph

    # every op of the table, as a wide gate and as a binary one (the kernels' two paths)
    gates = [{"id": f"{op.name}{n}", "op": op.name, "inputs": ["a", "b", "a"][:n]} for op in OPS for n in (2, 3)]
    plan = load_graph({"inputs": ["a", "b"], "gates": gates})
    for batch_size in (1, 2):
        evaluate(plan, np.ones((2, batch_size)), tangents=np.ones((2, batch_size)))
    evaluate(plan, np.ones((2, 1)))
    one = evaluate(plan, np.ones((2, 2)))
    wire_grads(plan, one.values[:, 0], one.grads[:, 0])
