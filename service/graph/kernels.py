"""Compiled loops over a plan: topological order, forward pass, backward pass, per-wire gradients.

The loops apply the rules of the op table (``ops.py``) over flat arrays (CSR: gate g reads
nodes ``sources[ptr[g]:ptr[g+1]]``) instead of one object per node, and in loops instead of
recursion, so a chain of 10^6 gates is just a long loop. They name no op: the dispatchers of
``dispatch.py`` pick the table's rule by op code, and numba inlines it into each loop.
Tangents and gradients' tangents have their own kernels, in ``tangent_kernels.py``.

Gradients are accumulated with ``+=`` one edge at a time, which is what makes fan-out and
repeated inputs (``mul(x, x)``) come out right; a vectorised ``grad[idx] += w`` would drop
repeated indices. The fold of the inputs before each input (``before``) and after it
(``after``) comes from prefix and suffix folds, never from the output and an inverse (which
for ``mul`` is 0/0 when an input is 0).

Values are laid out one row per node, ``(n_nodes,)`` for one assignment or
``(n_nodes, batch_size)`` for a batch, so each gate streams over contiguous rows.

Why one-assignment kernels beside the batch ones: a batch kernel run with batch_size = 1 pays
an inner loop and a row view per edge for one number. Measured on this machine (2026-12-01,
10^6 binary gates of bench_core's graphs, forward + backward, both kernels called on the same
plan, best of runs): wide graphs 37.6 ns a gate with the one-assignment kernels against 53.4
with the batch kernels at batch_size = 1, deep chains 21.6 against 32.8, so 1.4-1.5x. Most jobs
are single assignments.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dispatch import IDENTITY, READS_OTHERS, fold_rows, grad_rows, op_partial, op_value
from .kernel_cache import use_cache_for_rules

use_cache_for_rules()  # before the kernels are defined: they are cached by the rules' digest


@njit(cache=True, nogil=True)
def topological_order(ptr, sources, first_gate):  # pragma: no cover - compiled
    """Kahn's algorithm over gates; returns (order, count); count < n_gates means a cycle."""
    n_gates = ptr.size - 1
    pending = np.zeros(n_gates, np.int64)  # unresolved gate inputs per gate
    reader_count = np.zeros(n_gates + 1, np.int64)
    for g in range(n_gates):
        for k in range(ptr[g], ptr[g + 1]):
            src = sources[k] - first_gate
            if src >= 0:
                pending[g] += 1
                reader_count[src + 1] += 1
    reader_ptr = np.cumsum(reader_count)
    readers = np.empty(reader_ptr[-1], np.int64)
    fill = reader_ptr[:-1].copy()
    for g in range(n_gates):
        for k in range(ptr[g], ptr[g + 1]):
            src = sources[k] - first_gate
            if src >= 0:
                readers[fill[src]] = g
                fill[src] += 1
    order = np.empty(n_gates, np.int32)
    tail = 0
    for g in range(n_gates):
        if pending[g] == 0:
            order[tail] = g
            tail += 1
    head = 0
    while head < tail:
        g = order[head]
        head += 1
        for r in range(reader_ptr[g], reader_ptr[g + 1]):
            reader = readers[r]
            pending[reader] -= 1
            if pending[reader] == 0:
                order[tail] = reader
                tail += 1
    return order, tail


@njit(cache=True, inline="always")
def _shares_one(op, start, end, upstream, sources, vals, scratch):  # pragma: no cover - compiled
    """The gradient flowing back along each input wire of one gate, into ``scratch[:end - start]``."""
    if not READS_OTHERS[op]:
        for k in range(start, end):
            scratch[k - start] = upstream * op_partial(op, IDENTITY[op], IDENTITY[op])
        return
    before = IDENTITY[op]
    for k in range(start, end):
        scratch[k - start] = before
        before = op_value(op, before, vals[sources[k]])
    after = IDENTITY[op]
    for k in range(end - 1, start - 1, -1):
        scratch[k - start] = upstream * op_partial(op, scratch[k - start], after)
        after = op_value(op, after, vals[sources[k]])


@njit(cache=True, nogil=True)
def forward_one(ops, ptr, sources, order, first_gate, vals):  # pragma: no cover - compiled
    """Values of every gate, one assignment: each gate folds its inputs with its op's value rule."""
    for t in range(order.size):
        g = order[t]
        op = ops[g]
        acc = vals[sources[ptr[g]]]
        for k in range(ptr[g] + 1, ptr[g + 1]):
            acc = op_value(op, acc, vals[sources[k]])
        vals[first_gate + g] = acc


@njit(cache=True, nogil=True)
def backward_one(ops, ptr, sources, order, first_gate, vals, grads, scratch):  # pragma: no cover
    """Gradients, one assignment, gates in reverse topological order (readers before sources)."""
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        op = ops[g]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        if end - start == 2:  # most gates: both inputs read before either write, as a may be b
            a = sources[start]
            b = sources[start + 1]
            va = vals[a]
            vb = vals[b]
            grads[a] += upstream * op_partial(op, IDENTITY[op], vb)
            grads[b] += upstream * op_partial(op, va, IDENTITY[op])
        else:
            _shares_one(op, start, end, upstream, sources, vals, scratch)
            for k in range(start, end):
                grads[sources[k]] += scratch[k - start]


@njit(cache=True, nogil=True)
def wire_grads_one(ops, ptr, sources, first_gate, vals, grads, scratch, out):  # pragma: no cover
    """``out[k]``: the gradient flowing back along edge k (one assignment), as backward_one adds it."""
    for g in range(ptr.size - 1):
        start = ptr[g]
        end = ptr[g + 1]
        _shares_one(ops[g], start, end, grads[first_gate + g], sources, vals, scratch)
        for k in range(start, end):
            out[k] = scratch[k - start]


@njit(cache=True, nogil=True)
def forward_batch(ops, ptr, sources, order, first_gate, vals):  # pragma: no cover - compiled
    """forward_one for batch_size assignments at once: one row of numbers per node."""
    for t in range(order.size):
        g = order[t]
        out = vals[first_gate + g]
        first = vals[sources[ptr[g]]]
        for j in range(out.size):
            out[j] = first[j]
        for k in range(ptr[g] + 1, ptr[g + 1]):
            fold_rows(ops[g], out, out, vals[sources[k]])


@njit(cache=True, nogil=True)
def backward_batch(ops, ptr, sources, order, first_gate, vals, grads, scratch):  # pragma: no cover
    """backward_one for batch_size assignments at once.

    ``scratch`` is (max_arity + 1, block), for gates of three or more inputs (``_wide_gate_batch``).
    """
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        op = ops[g]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        if end - start == 2:  # most gates: one loop a row, as a may be c
            identity = IDENTITY[op]
            va = vals[sources[start]]
            vc = vals[sources[start + 1]]
            ga = grads[sources[start]]
            gc = grads[sources[start + 1]]
            for b in range(upstream.size):
                ga[b] += upstream[b] * op_partial(op, identity, vc[b])
            for b in range(upstream.size):
                gc[b] += upstream[b] * op_partial(op, va[b], identity)
        else:
            _wide_gate_batch(op, start, end, upstream, sources, vals, grads, scratch)


@njit(cache=True, nogil=True)
def _wide_gate_batch(op, start, end, upstream, sources, vals, grads, scratch):  # pragma: no cover - compiled
    """Gradients into the inputs of one gate of three or more inputs, row by row over blocks of columns.

    ``scratch`` is (max_arity + 1, block): row k holds the fold of the inputs before k for the
    block's columns, the last row the fold of those after. Rows, not one column at a time, so the
    inner loops stream over contiguous numbers.
    """
    n = end - start
    if not READS_OTHERS[op]:
        for k in range(start, end):
            grad_rows(op, grads[sources[k]], upstream, IDENTITY[op], IDENTITY[op])
        return
    batch_size = vals.shape[1]
    block = scratch.shape[1]
    identity = IDENTITY[op]
    for b0 in range(0, batch_size, block):
        b1 = min(b0 + block, batch_size)
        columns = b1 - b0
        after = scratch[n, :columns]
        scratch[0, :columns] = identity
        after[:] = identity
        for k in range(1, n):
            fold_rows(op, scratch[k, :columns], scratch[k - 1, :columns], vals[sources[start + k - 1], b0:b1])
        for k in range(n - 1, -1, -1):
            src = sources[start + k]
            grad_rows(op, grads[src, b0:b1], upstream[b0:b1], scratch[k, :columns], after)
            fold_rows(op, after, after, vals[src, b0:b1])
