"""A plan's arrays as the kernels run them: gates in topological order, so the kernels need no ``order``.

A plan numbers its nodes in definition order (what storage, the API and ``Plan.ids`` see), and
``Plan.order`` lists its gates in a topological order. The kernels instead walk gate t as node
``first_gate + t``, which saves an indirection a gate and lets a binary gate's inputs sit at
``sources[2t]`` and ``sources[2t + 1]``. For a plan whose gates were listed in topological order,
as most are, that is the plan's own numbering and its own arrays. Otherwise the gates are
renumbered here, once per plan, and ``evaluate`` maps the rows back before they leave it
(``node_of``), so the renumbering is never seen outside the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .plan import Plan


@dataclass(frozen=True, eq=False)
class Layout:
    ops: np.ndarray  # uint8, the op code of gate t
    ptr: np.ndarray  # int64, gate t reads sources[ptr[t]:ptr[t + 1]]
    sources: np.ndarray  # int32, node numbers in this layout's numbering
    outputs: np.ndarray  # int32, in this layout's numbering
    first_gate: int
    binary: bool  # every gate reads two inputs: gate t reads sources[2t] and sources[2t + 1]
    # None when the plan's numbering is already topological; else the plan's node number of each
    # row of the kernels' buffers (node_of) and the row of each plan node (row_of)
    node_of: np.ndarray | None
    row_of: np.ndarray | None


def layout_of(plan: Plan) -> Layout:
    """The kernels' layout of ``plan``: its own arrays when its gates are in topological order."""
    first, n_gates = plan.first_gate, plan.n_gates
    binary = plan.sources.size == 2 * n_gates
    if bool((plan.order == np.arange(n_gates, dtype=plan.order.dtype)).all()):
        return Layout(plan.ops, plan.ptr, plan.sources, plan.outputs, first, binary, None, None)
    order = plan.order.astype(np.int64)
    node_of = np.arange(plan.n_nodes, dtype=np.int64)
    node_of[first:] = first + order
    row_of = np.empty_like(node_of)
    row_of[node_of] = np.arange(plan.n_nodes)
    arity = np.diff(plan.ptr)[order]
    ptr = np.zeros(n_gates + 1, dtype=np.int64)
    np.cumsum(arity, out=ptr[1:])
    # edge e of gate t is edge e - ptr[t] of plan gate order[t]
    edges = np.repeat(plan.ptr[order] - ptr[:-1], arity) + np.arange(ptr[-1])
    sources = row_of[plan.sources[edges]].astype(np.int32)
    outputs = row_of[plan.outputs].astype(np.int32)
    return Layout(plan.ops[order], ptr, sources, outputs, first, binary, node_of, row_of)
