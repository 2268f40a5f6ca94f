"""The op table's rules picked by op code inside compiled loops: the only places in the kernels that name ops.

``op_value``, ``op_partial``, ``op_tangent`` and ``op_partial_tangent`` pick an op's rule for one
number; the ``*_rows`` functions for rows of a batch, the choice made once a row so the row loop
vectorises. The rows of a binary gate with tangents are done in one pass each way
(``fold_tangent_rows``, ``pair_grad_tangent_rows``): four rows read and written once, not in
four passes, which measured 2.5-4.6x the plain passes at B = 64 instead of about 2x. numba
inlines each rule into the loop that calls it. Adding an op to ``ops.py`` means adding its
branch to each function here.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .ops import (
    ADD,
    MUL,
    OPS,
    add_partial,
    add_partial_tangent,
    add_tangent,
    add_value,
    mul_partial,
    mul_partial_tangent,
    mul_tangent,
    mul_value,
)

MUL_CODE = MUL.code
# by op code; numba freezes global arrays as constants
IDENTITY = np.array([op.identity for op in OPS])
READS_OTHERS = np.array([op.partial_reads_others for op in OPS])
# per op, as constants numba folds: in its branch, the partial-tangent term is compiled in or out
ADD_READS, MUL_READS = ADD.partial_reads_others, MUL.partial_reads_others


@njit(cache=True, inline="always")
def share_tangent(reads, upstream, upstream_t, partial, partial_t):  # pragma: no cover - compiled
    """The tangent of upstream * partial; a constant partial (``reads`` False) has none to add (see ops.Op)."""
    if reads:
        return upstream_t * partial + upstream * partial_t
    return upstream_t * partial


@njit(cache=True, inline="always")
def op_value(op, acc, x):  # pragma: no cover - compiled
    """The op's value rule: acc op x."""
    if op == MUL_CODE:
        return mul_value(acc, x)
    return add_value(acc, x)


@njit(cache=True, inline="always")
def op_partial(op, before, after):  # pragma: no cover - compiled
    """The op's local gradient of one input, from the folds of the inputs before and after it."""
    if op == MUL_CODE:
        return mul_partial(before, after)
    return add_partial(before, after)


@njit(cache=True, inline="always")
def op_tangent(op, acc, acc_t, x, x_t):  # pragma: no cover - compiled
    """The tangent of acc op x, from the tangents of acc and x."""
    if op == MUL_CODE:
        return mul_tangent(acc, acc_t, x, x_t)
    return add_tangent(acc, acc_t, x, x_t)


@njit(cache=True, inline="always")
def op_partial_tangent(op, before, before_t, after, after_t):  # pragma: no cover - compiled
    """The tangent of the op's local gradient, from the folds before and after and their tangents."""
    if op == MUL_CODE:
        return mul_partial_tangent(before, before_t, after, after_t)
    return add_partial_tangent(before, before_t, after, after_t)


def at(x, j):  # pragma: no cover - compiled only, through its overload
    """x[j] for a row, x itself for a number (a row of one repeated number, such as an identity)."""


@overload(at, inline="always")
def _at_overload(x, j):
    if isinstance(x, types.Array):
        return lambda x, j: x[j]
    return lambda x, j: x


@njit(cache=True, inline="always")
def fold_rows(op, out, a, b):  # pragma: no cover - compiled
    """out[j] = a[j] op b[j] along rows (out may be a)."""
    if op == MUL_CODE:
        for j in range(out.size):
            out[j] = mul_value(a[j], b[j])
    else:
        for j in range(out.size):
            out[j] = add_value(a[j], b[j])


@njit(cache=True, inline="always")
def grad_rows(op, dst, upstream, before, after):  # pragma: no cover - compiled
    """dst[j] += upstream[j] * partial(before[j], after[j]) along rows.

    ``before`` or ``after`` may be a number (the op's identity) instead of a row.
    """
    if op == MUL_CODE:
        for j in range(dst.size):
            dst[j] += upstream[j] * mul_partial(at(before, j), at(after, j))
    else:
        for j in range(dst.size):
            dst[j] += upstream[j] * add_partial(at(before, j), at(after, j))


@njit(cache=True, inline="always")
def fold_tangent_rows(op, out, out_t, a, a_t, b, b_t):  # pragma: no cover - compiled
    """out[j] = a[j] op b[j] and out_t[j] its tangent, in one pass (out, out_t may be a, a_t)."""
    if op == MUL_CODE:
        for j in range(out.size):
            x = a[j]
            y = b[j]
            out_t[j] = mul_tangent(x, a_t[j], y, b_t[j])
            out[j] = mul_value(x, y)
    else:
        for j in range(out.size):
            x = a[j]
            y = b[j]
            out_t[j] = add_tangent(x, a_t[j], y, b_t[j])
            out[j] = add_value(x, y)


@njit(cache=True, inline="always")
def pair_grad_tangent_rows(op, ga, gta, gc, gtc, up, up_t, va, ta, vc, tc):  # pragma: no cover - compiled
    """A binary gate's gradient and its tangent into both its inputs (a, c), in one pass; a may be c."""
    identity = IDENTITY[op]
    if op == MUL_CODE:
        for j in range(up.size):
            pa = mul_partial(identity, vc[j])
            pc = mul_partial(va[j], identity)
            ga[j] += up[j] * pa
            gta[j] += share_tangent(MUL_READS, up[j], up_t[j], pa, mul_partial_tangent(identity, 0.0, vc[j], tc[j]))
            gc[j] += up[j] * pc
            gtc[j] += share_tangent(MUL_READS, up[j], up_t[j], pc, mul_partial_tangent(va[j], ta[j], identity, 0.0))
    else:
        for j in range(up.size):
            pa = add_partial(identity, vc[j])
            pc = add_partial(va[j], identity)
            ga[j] += up[j] * pa
            gta[j] += share_tangent(ADD_READS, up[j], up_t[j], pa, add_partial_tangent(identity, 0.0, vc[j], tc[j]))
            gc[j] += up[j] * pc
            gtc[j] += share_tangent(ADD_READS, up[j], up_t[j], pc, add_partial_tangent(va[j], ta[j], identity, 0.0))


@njit(cache=True, inline="always")
def wide_input_rows(op, g, g_t, up, up_t, before, before_t, after, after_t, x, x_t):  # pragma: no cover - compiled
    """One input of a wide gate, in one pass: its gradient and the gradient's tangent, from the folds
    before and after it, then ``after`` and ``after_t`` moved past it (to the input before)."""
    if op == MUL_CODE:
        for j in range(up.size):
            b, bt, a, a_t = before[j], before_t[j], after[j], after_t[j]
            partial = mul_partial(b, a)
            g[j] += up[j] * partial
            g_t[j] += share_tangent(MUL_READS, up[j], up_t[j], partial, mul_partial_tangent(b, bt, a, a_t))
            after_t[j] = mul_tangent(a, a_t, x[j], x_t[j])
            after[j] = mul_value(a, x[j])
    else:
        for j in range(up.size):
            b, bt, a, a_t = before[j], before_t[j], after[j], after_t[j]
            partial = add_partial(b, a)
            g[j] += up[j] * partial
            g_t[j] += share_tangent(ADD_READS, up[j], up_t[j], partial, add_partial_tangent(b, bt, a, a_t))
            after_t[j] = add_tangent(a, a_t, x[j], x_t[j])
            after[j] = add_value(a, x[j])
