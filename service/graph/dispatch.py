"""The op table's rules picked by op code inside compiled loops: the only places in the kernels that name ops.

``op_value``, ``op_partial``, ``op_tangent`` and ``op_partial_tangent`` pick an op's rule for one
number; ``fold_rows``, ``grad_rows``, ``tangent_rows`` and ``grad_tangent_rows`` for a row of a
batch, the choice made once a row so the row loop vectorises. numba inlines each rule into the
loop that calls it. Adding an op to ``ops.py`` means adding its branch to each function here.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .ops import (
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
def tangent_rows(op, out_t, a, a_t, b, b_t):  # pragma: no cover - compiled
    """out_t[j] = the tangent of a[j] op b[j] along rows (out_t may be a_t)."""
    if op == MUL_CODE:
        for j in range(out_t.size):
            out_t[j] = mul_tangent(a[j], a_t[j], b[j], b_t[j])
    else:
        for j in range(out_t.size):
            out_t[j] = add_tangent(a[j], a_t[j], b[j], b_t[j])


@njit(cache=True, inline="always")
def grad_tangent_rows(op, dst, upstream, upstream_t, before, before_t, after, after_t):  # pragma: no cover
    """dst[j] += upstream_t[j] * partial + upstream[j] * partial_tangent along rows: a gradient's tangent.

    ``before``/``before_t`` or ``after``/``after_t`` may be numbers (the op's identity and 0).
    """
    if op == MUL_CODE:
        for j in range(dst.size):
            b, bt, a, a_t = at(before, j), at(before_t, j), at(after, j), at(after_t, j)
            dst[j] += upstream_t[j] * mul_partial(b, a) + upstream[j] * mul_partial_tangent(b, bt, a, a_t)
    else:
        for j in range(dst.size):
            b, bt, a, a_t = at(before, j), at(before_t, j), at(after, j), at(after_t, j)
            dst[j] += upstream_t[j] * add_partial(b, a) + upstream[j] * add_partial_tangent(b, bt, a, a_t)
