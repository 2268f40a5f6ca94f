"""Compiled loops for directions: every node's tangent (forward mode) and its gradient's tangent (forward-over-reverse).

The same passes as ``kernels.py``, over the same plan arrays, in dual numbers: beside each value
runs its tangent (its derivative along the direction v), and beside each gradient the
gradient's tangent. The rules are the op table's ``tangent`` and ``partial_tangent``
(``ops.py``), picked by ``dispatch.py``. The guarantees carry over: gradients and their
tangents are added one edge at a time (fan-out, ``mul(x, x)``); the folds before and after each
input of a wide gate come from prefix and suffix folds, with their tangents beside them, never
from a division; loops, no recursion.

An op whose partial is a constant (``add``) passes ``upstream_t * partial`` back and nothing
else: its partial's tangent is 0, and skipping it keeps an infinite upstream gradient from
becoming NaN through ``inf * 0``.

Separate kernels rather than a flag on the plain ones: a job without a direction then pays
nothing for it, not a branch an edge.
"""

from __future__ import annotations

from numba import njit

from .dispatch import (
    IDENTITY,
    READS_OTHERS,
    fold_rows,
    grad_rows,
    grad_tangent_rows,
    op_partial,
    op_partial_tangent,
    op_tangent,
    op_value,
    tangent_rows,
)


@njit(cache=True, nogil=True)
def forward_one(ops, ptr, sources, order, first_gate, vals, tans):  # pragma: no cover - compiled
    """Values and tangents of every gate, one assignment: the value fold and its tangent side by side."""
    for t in range(order.size):
        g = order[t]
        op = ops[g]
        first = sources[ptr[g]]
        acc = vals[first]
        acc_t = tans[first]
        for k in range(ptr[g] + 1, ptr[g + 1]):
            x = vals[sources[k]]
            acc_t = op_tangent(op, acc, acc_t, x, tans[sources[k]])  # of the fold so far, before it moves on
            acc = op_value(op, acc, x)
        vals[first_gate + g] = acc
        tans[first_gate + g] = acc_t


@njit(cache=True, inline="always")
def _shares_one(op, start, end, upstream, upstream_t, sources, vals, tans, scratch):  # pragma: no cover
    """The gradient and its tangent flowing back along each input wire of one gate, into ``scratch[0:2, :n]``."""
    identity = IDENTITY[op]
    if not READS_OTHERS[op]:
        partial = op_partial(op, identity, identity)
        for k in range(start, end):
            scratch[0, k - start] = upstream * partial
            scratch[1, k - start] = upstream_t * partial
        return
    before = identity
    before_t = 0.0
    for k in range(start, end):
        scratch[0, k - start] = before
        scratch[1, k - start] = before_t
        x = vals[sources[k]]
        before_t = op_tangent(op, before, before_t, x, tans[sources[k]])
        before = op_value(op, before, x)
    after = identity
    after_t = 0.0
    for k in range(end - 1, start - 1, -1):
        b = scratch[0, k - start]
        b_t = scratch[1, k - start]
        partial = op_partial(op, b, after)
        scratch[0, k - start] = upstream * partial
        scratch[1, k - start] = upstream_t * partial + upstream * op_partial_tangent(op, b, b_t, after, after_t)
        x = vals[sources[k]]
        after_t = op_tangent(op, after, after_t, x, tans[sources[k]])
        after = op_value(op, after, x)


@njit(cache=True, nogil=True)
def backward_one(ops, ptr, sources, order, first_gate, vals, tans, grads, grad_tans, scratch):  # pragma: no cover
    """Gradients and their tangents, one assignment, gates in reverse topological order.

    ``scratch`` is (2, max_arity), for gates of three or more inputs.
    """
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        op = ops[g]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        upstream_t = grad_tans[first_gate + g]
        if end - start == 2:  # most gates: both inputs read before either write, as a may be b
            identity = IDENTITY[op]
            a = sources[start]
            b = sources[start + 1]
            va = vals[a]
            vb = vals[b]
            pa = op_partial(op, identity, vb)
            pb = op_partial(op, va, identity)
            grads[a] += upstream * pa
            grads[b] += upstream * pb
            if READS_OTHERS[op]:
                ta = tans[a]
                tb = tans[b]
                grad_tans[a] += upstream_t * pa + upstream * op_partial_tangent(op, identity, 0.0, vb, tb)
                grad_tans[b] += upstream_t * pb + upstream * op_partial_tangent(op, va, ta, identity, 0.0)
            else:
                grad_tans[a] += upstream_t * pa
                grad_tans[b] += upstream_t * pb
        else:
            _shares_one(op, start, end, upstream, upstream_t, sources, vals, tans, scratch)
            for k in range(start, end):
                grads[sources[k]] += scratch[0, k - start]
                grad_tans[sources[k]] += scratch[1, k - start]


@njit(cache=True, nogil=True)
def forward_batch(ops, ptr, sources, order, first_gate, vals, tans):  # pragma: no cover - compiled
    """forward_one for batch_size assignments at once: one row of values and one of tangents per node."""
    for t in range(order.size):
        g = order[t]
        op = ops[g]
        out = vals[first_gate + g]
        out_t = tans[first_gate + g]
        out[:] = vals[sources[ptr[g]]]
        out_t[:] = tans[sources[ptr[g]]]
        for k in range(ptr[g] + 1, ptr[g + 1]):
            src = sources[k]
            tangent_rows(op, out_t, out, out_t, vals[src], tans[src])  # of the fold so far, before it moves on
            fold_rows(op, out, out, vals[src])


@njit(cache=True, nogil=True)
def backward_batch(ops, ptr, sources, order, first_gate, vals, tans, grads, grad_tans, scratch):  # pragma: no cover
    """backward_one for batch_size assignments at once.

    ``scratch`` is (2, max_arity + 1, block): the folds and their tangents, for gates of three or more inputs.
    """
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        op = ops[g]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        upstream_t = grad_tans[first_gate + g]
        if end - start == 2:
            identity = IDENTITY[op]
            a = sources[start]
            c = sources[start + 1]
            if READS_OTHERS[op]:
                grad_tangent_rows(op, grad_tans[a], upstream, upstream_t, identity, 0.0, vals[c], tans[c])
                grad_tangent_rows(op, grad_tans[c], upstream, upstream_t, vals[a], tans[a], identity, 0.0)
            else:
                grad_rows(op, grad_tans[a], upstream_t, identity, identity)
                grad_rows(op, grad_tans[c], upstream_t, identity, identity)
            grad_rows(op, grads[a], upstream, identity, vals[c])
            grad_rows(op, grads[c], upstream, vals[a], identity)
        else:
            _wide_gate_batch(op, start, end, upstream, upstream_t, sources, vals, tans, grads, grad_tans, scratch)


@njit(cache=True, nogil=True)
def _wide_gate_batch(
    op, start, end, upstream, upstream_t, sources, vals, tans, grads, grad_tans, scratch
):  # pragma: no cover - compiled
    """Gradients and their tangents into the inputs of one gate of three or more inputs, over blocks of columns.

    ``scratch[0]`` holds the folds as ``kernels._wide_gate_batch`` does (row k: before input k,
    the last row: after), ``scratch[1]`` their tangents.
    """
    n = end - start
    identity = IDENTITY[op]
    if not READS_OTHERS[op]:
        for k in range(start, end):
            grad_rows(op, grads[sources[k]], upstream, identity, identity)
            grad_rows(op, grad_tans[sources[k]], upstream_t, identity, identity)
        return
    batch_size = vals.shape[1]
    block = scratch.shape[2]
    folds = scratch[0]
    folds_t = scratch[1]
    for b0 in range(0, batch_size, block):
        b1 = min(b0 + block, batch_size)
        columns = b1 - b0
        folds[0, :columns] = identity
        folds_t[0, :columns] = 0.0
        for k in range(1, n):
            src = sources[start + k - 1]
            before, before_t = folds[k - 1, :columns], folds_t[k - 1, :columns]
            tangent_rows(op, folds_t[k, :columns], before, before_t, vals[src, b0:b1], tans[src, b0:b1])
            fold_rows(op, folds[k, :columns], before, vals[src, b0:b1])
        after, after_t = folds[n, :columns], folds_t[n, :columns]
        after[:] = identity
        after_t[:] = 0.0
        up, up_t = upstream[b0:b1], upstream_t[b0:b1]
        for k in range(n - 1, -1, -1):
            src = sources[start + k]
            before, before_t = folds[k, :columns], folds_t[k, :columns]
            grad_tangent_rows(op, grad_tans[src, b0:b1], up, up_t, before, before_t, after, after_t)
            grad_rows(op, grads[src, b0:b1], up, before, after)
            tangent_rows(op, after_t, after, after_t, vals[src, b0:b1], tans[src, b0:b1])
            fold_rows(op, after, after, vals[src, b0:b1])
