"""Compiled loops over a plan: topological order, forward pass, backward pass, per-wire gradients.

The loops apply the rules of the op table (``ops.py``) over flat arrays (CSR: gate g reads
nodes ``sources[ptr[g]:ptr[g+1]]``) instead of one object per node, and in loops instead of
recursion, so a chain of 10^6 gates is just a long loop. ``_value`` and ``_partial`` are the
only places here that name ops: they pick the table's rule by a gate's code, and numba inlines
the rule into each loop.

Gradients are accumulated with ``+=`` one edge at a time, which is what makes fan-out and
repeated inputs (``mul(x, x)``) come out right; a vectorised ``grad[idx] += w`` would drop
repeated indices. The fold of the inputs before each input (``before``) and after it
(``after``) comes from prefix and suffix folds, never from the output and an inverse (which
for ``mul`` is 0/0 when an input is 0).

Values are laid out one row per node, ``(n_nodes,)`` for one assignment or
``(n_nodes, batch_size)`` for a batch, so each gate streams over contiguous rows.

Why one-assignment kernels beside the batch ones: a batch kernel run with batch_size = 1 pays
an inner loop and a row view per edge for one number. Measured on this machine (10^6 binary
gates, forward + backward, ``tests/benchmarks/bench_core.py --one-vs-batch``): wide graphs
ONE_WIDE ns a gate with the one-assignment kernels against BATCH_WIDE with the batch kernels at
batch_size = 1, deep chains ONE_DEEP against BATCH_DEEP. Most jobs are single assignments.
"""
from __future__ import annotations

import os
from pathlib import Path

# numba caches compiled kernels beside this file; where that is read-only (a container
# image), it would silently recompile in every process, costing seconds per worker start.
if "NUMBA_CACHE_DIR" not in os.environ and not os.access(Path(__file__).parent, os.W_OK):
    os.environ["NUMBA_CACHE_DIR"] = str(Path.home() / ".cache" / "gategraph" / "numba")

import numpy as np  # noqa: E402 - numba reads NUMBA_CACHE_DIR when it is imported
from numba import njit  # noqa: E402

from .ops import ADD, MUL, OPS, add_partial, add_value, mul_partial, mul_value  # noqa: E402

ADD_CODE, MUL_CODE = ADD.code, MUL.code
IDENTITY = np.array([op.identity for op in OPS])  # by op code; numba freezes it as a constant


@njit(cache=True, inline="always")
def _value(op, acc, x):  # pragma: no cover - compiled
    """The op's value rule: acc op x."""
    if op == MUL_CODE:
        return mul_value(acc, x)
    return add_value(acc, x)


@njit(cache=True, inline="always")
def _partial(op, before, after):  # pragma: no cover - compiled
    """The op's local gradient of one input, from the folds of the inputs before and after it."""
    if op == MUL_CODE:
        return mul_partial(before, after)
    return add_partial(before, after)


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
    before = IDENTITY[op]
    for k in range(start, end):
        scratch[k - start] = before
        before = _value(op, before, vals[sources[k]])
    after = IDENTITY[op]
    for k in range(end - 1, start - 1, -1):
        scratch[k - start] = upstream * _partial(op, scratch[k - start], after)
        after = _value(op, after, vals[sources[k]])


@njit(cache=True, nogil=True)
def forward_one(ops, ptr, sources, order, first_gate, vals):  # pragma: no cover - compiled
    """Values of every gate, one assignment: each gate folds its inputs with its op's value rule."""
    for t in range(order.size):
        g = order[t]
        op = ops[g]
        acc = vals[sources[ptr[g]]]
        for k in range(ptr[g] + 1, ptr[g + 1]):
            acc = _value(op, acc, vals[sources[k]])
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
            grads[a] += upstream * _partial(op, IDENTITY[op], vb)
            grads[b] += upstream * _partial(op, va, IDENTITY[op])
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
    batch_size = vals.shape[1]
    for t in range(order.size):
        g = order[t]
        op = ops[g]
        out = vals[first_gate + g]
        src = vals[sources[ptr[g]]]
        for b in range(batch_size):
            out[b] = src[b]
        for k in range(ptr[g] + 1, ptr[g + 1]):
            src = vals[sources[k]]
            for b in range(batch_size):
                out[b] = _value(op, out[b], src[b])


@njit(cache=True, nogil=True)
def backward_batch(ops, ptr, sources, order, first_gate, vals, grads, scratch):  # pragma: no cover
    """backward_one for batch_size assignments at once."""
    batch_size = vals.shape[1]
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        op = ops[g]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        if end - start == 2:
            a = sources[start]
            c = sources[start + 1]
            va = vals[a]
            vc = vals[c]
            ga = grads[a]
            gc = grads[c]
            identity = IDENTITY[op]
            for b in range(batch_size):
                ga[b] += upstream[b] * _partial(op, identity, vc[b])
            for b in range(batch_size):
                gc[b] += upstream[b] * _partial(op, va[b], identity)
        else:  # wide gates are rare: one column at a time keeps scratch at one row
            for b in range(batch_size):
                _shares_one(op, start, end, upstream[b], sources, vals[:, b], scratch)
                for k in range(start, end):
                    grads[sources[k], b] += scratch[k - start]
