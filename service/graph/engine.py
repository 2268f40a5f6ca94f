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
from .layout import Layout
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
    layout = plan.layout
    batch_size = inputs.shape[1]
    if tangents is None:
        values, grads = new_buffers(plan, batch_size)
    else:
        values, tans, grads, grad_tans = _directional_buffers(plan.n_nodes, batch_size)
        tans[: plan.n_inputs] = tangents  # and constants do not move along v either
    values[: plan.n_inputs] = inputs
    values[plan.n_inputs : plan.first_gate] = plan.constants[:, None]
    # outputs are distinct nodes and no gradient has flowed yet: the seed is assigned, not added
    grads[layout.outputs] = 1.0 if output_grads is None else np.asarray(output_grads, dtype=np.float64)
    if tangents is None:
        forward(plan, values)
        backward(plan, values, grads)
        return Evaluation(*_in_plan_order(layout, values, grads))
    directional_passes(plan, values, tans, grads, grad_tans)
    return Evaluation(*_in_plan_order(layout, values, grads, tans, grad_tans))


def new_buffers(plan: Plan, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and gradients, (n_nodes, batch_size) each, laid out as the kernels read them; gradients zero.

    For one assignment they are the two columns of one (n_nodes, 2) array (see ``kernels.py``).
    Both come from fresh zero pages (``np.zeros``), not from a written copy.
    """
    if batch_size == 1:
        nodes = np.zeros((plan.n_nodes, 2), dtype=np.float64)
        return nodes[:, 0:1], nodes[:, 1:2]
    return np.empty((plan.n_nodes, batch_size), dtype=np.float64), np.zeros((plan.n_nodes, batch_size))


def _directional_buffers(n_nodes: int, batch_size: int) -> tuple[np.ndarray, ...]:
    """Values, tangents, gradients and gradients' tangents, each (n_nodes, batch_size), zero.

    One assignment: the four columns of one (n_nodes, 4) array, a node's numbers in one cache
    line. A batch: ``duals`` (values beside tangents) and ``grad_duals``, (n_nodes, 2, batch_size)
    each, so an edge to a random node is one row of each.
    """
    if batch_size == 1:
        quads = np.zeros((n_nodes, 4), dtype=np.float64)
        return tuple(quads[:, i : i + 1] for i in range(4))
    duals = np.zeros((n_nodes, 2, batch_size), dtype=np.float64)
    grad_duals = np.zeros((n_nodes, 2, batch_size), dtype=np.float64)
    return duals[:, 0], duals[:, 1], grad_duals[:, 0], grad_duals[:, 1]


def _in_plan_order(layout: Layout, *rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Buffers in the layout's numbering, in the plan's (a copy only when the two differ)."""
    if layout.row_of is None:
        return rows
    return tuple(r[layout.row_of] for r in rows)


def _columns_of(base_rows: np.ndarray, count: int) -> np.ndarray | None:
    """The (n_nodes, count) array whose first column is ``base_rows`` (n_nodes, 1), or None if it is not one."""
    row_step, column_step = base_rows.strides
    if base_rows.shape[1] != 1 or column_step != 8 or row_step != 8 * count:
        return None
    return np.lib.stride_tricks.as_strided(base_rows, shape=(base_rows.shape[0], count), strides=(row_step, 8))


def _nodes(values: np.ndarray, grads: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """One assignment's values and gradients as the (n_nodes, 2) array the kernels take; True if a copy."""
    nodes = _columns_of(values, 2)
    if nodes is not None and (grads is None or grads.ctypes.data == values.ctypes.data + 8):
        return nodes, False
    nodes = np.empty((values.shape[0], 2), dtype=np.float64)
    nodes[:, 0] = values[:, 0]
    nodes[:, 1] = 0.0 if grads is None else grads[:, 0]
    return nodes, True


def forward(plan: Plan, values: np.ndarray) -> None:
    """Fill the gate rows of ``values`` (n_nodes, batch_size, in ``plan.layout``'s numbering) from its leaves.

    Fastest on buffers from ``new_buffers``; others are accepted (and copied for one assignment).
    """
    layout = plan.layout
    if values.shape[1] > 1:
        kernels.forward_batch(layout.ops, layout.ptr, layout.sources, layout.first_gate, values)
        return
    nodes, copied = _nodes(values, None)
    if layout.binary:
        kernels.forward_pairs(layout.ops, layout.sources, layout.first_gate, nodes)
    else:
        kernels.forward_one(layout.ops, layout.ptr, layout.sources, layout.first_gate, nodes)
    if copied:
        values[:, 0] = nodes[:, 0]


def backward(plan: Plan, values: np.ndarray, grads: np.ndarray) -> None:
    """Accumulate gradients into ``grads`` (n_nodes, batch_size, like ``values``), seeded at the outputs."""
    layout = plan.layout
    batch_size = values.shape[1]
    if batch_size > 1:
        # the folds of a wide gate's inputs, for a block of columns: bounded, whatever the arity
        block = min(batch_size, max(1, SCRATCH_CELLS // (plan.max_arity + 1)))
        scratch = np.empty((plan.max_arity + 1, block), dtype=np.float64)
        kernels.backward_batch(layout.ops, layout.ptr, layout.sources, layout.first_gate, values, grads, scratch)
        return
    nodes, copied = _nodes(values, grads)
    if layout.binary:
        kernels.backward_pairs(layout.ops, layout.sources, layout.first_gate, nodes)
    else:
        prefix = np.empty(plan.max_arity, dtype=np.float64)
        kernels.backward_one(layout.ops, layout.ptr, layout.sources, layout.first_gate, nodes, prefix)
    if copied:
        grads[:, 0] = nodes[:, 1]


def directional_passes(
    plan: Plan, values: np.ndarray, tans: np.ndarray, grads: np.ndarray, grad_tans: np.ndarray
) -> None:
    """``forward`` and ``backward`` with tangents beside values and gradients, in the same two passes.

    The four arrays are (n_nodes, batch_size), in ``plan.layout``'s numbering, as
    ``_directional_buffers`` lays them out: leaves and their tangents filled, gradients seeded.
    """
    layout = plan.layout
    arrays = (layout.ops, layout.ptr, layout.sources, layout.first_gate)
    if values.shape[1] == 1:
        quads = _columns_of(values, 4)
        if quads is None:
            raise ValueError("one assignment's buffers must be the columns of one (n_nodes, 4) array")
        if layout.binary:
            tangent_kernels.forward_pairs(layout.ops, layout.sources, layout.first_gate, quads)
            tangent_kernels.backward_pairs(layout.ops, layout.sources, layout.first_gate, quads)
        else:
            tangent_kernels.forward_one(*arrays, quads)
            tangent_kernels.backward_one(*arrays, quads, np.empty((2, plan.max_arity)))
    else:
        duals, grad_duals = values.base, grads.base
        if duals is None or grad_duals is None or duals.shape != (values.shape[0], 2, values.shape[1]):
            raise ValueError("a batch's buffers must be rows of (n_nodes, 2, batch_size) arrays")
        block = min(values.shape[1], max(1, SCRATCH_CELLS // (2 * (plan.max_arity + 1))))
        scratch = np.empty((2, plan.max_arity + 1, block), dtype=np.float64)
        tangent_kernels.forward_batch(*arrays, duals)
        tangent_kernels.backward_batch(*arrays, duals, grad_duals, scratch)


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
