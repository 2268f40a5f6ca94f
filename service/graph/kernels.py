"""Compiled loops over a plan: topological order, forward pass, backward pass, per-wire gradients.

The loops apply the rules of the op table (``ops.py``) over flat arrays (CSR: gate g reads
nodes ``sources[ptr[g]:ptr[g+1]]``) instead of one object per node, and in loops instead of
recursion, so a chain of 10^6 gates is just a long loop. They name no op: the dispatchers of
``dispatch.py`` pick the table's rule by op code, and numba inlines it into each loop.
Tangents and gradients' tangents have their own kernels, in ``tangent_kernels.py``.

The passes take a plan's ``layout`` (``layout.py``): gates in topological order, gate g being
node ``first_gate + g``, so no gate pays an indirection through ``order``.

Gradients are accumulated with ``+=`` one edge at a time, which is what makes fan-out and
repeated inputs (``mul(x, x)``) come out right; a vectorised ``grad[idx] += w`` would drop
repeated indices. The fold of the inputs before each input (``before``) and after it
(``after``) comes from prefix and suffix folds, never from the output and an inverse (which
for ``mul`` is 0/0 when an input is 0). A binary gate's shares are added first input first, a
wider gate's last input first (the order its suffix folds come in), in every kernel, tangent
kernels included, so that all of them add the same numbers in the same order.

One assignment: ``nodes`` is (n_nodes, 2), each node's value beside its gradient, so that an
edge to a random node costs one cache miss going back, not two. A batch: values and gradients
are (n_nodes, batch_size) each, one row per node, so each gate streams over contiguous rows.

Why one-assignment kernels beside the batch ones: a batch kernel run with batch_size = 1 pays
an inner loop and a row view per edge for one number. Measured on this machine (2026-12-01,
10^6 binary gates of bench_core's graphs, forward + backward, both kernels called on the same
plan, best of runs): wide graphs 37.6 ns a gate with the one-assignment kernels against 53.4
with the batch kernels at batch_size = 1, deep chains 21.6 against 32.8, so 1.4-1.5x. Most jobs
are single assignments. Plans of binary gates only (most graphs) have kernels of their own,
``forward_pairs`` and ``backward_pairs``, with no loop over inputs and no ``ptr``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .dispatch import IDENTITY, READS_OTHERS, fold_rows, grad_rows, op_partial, op_value
from .kernel_cache import use_cache_for_rules
from .prefetch import prefetch_for_write

use_cache_for_rules()  # before the kernels are defined: they are cached by the rules' digest

# how far ahead the backward passes prefetch the nodes a gate will update (see prefetch.py)
PREFETCH_GATES = 32


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
def forward_pairs(ops, sources, first_gate, nodes):  # pragma: no cover - compiled
    """Values of every gate of a plan of binary gates, one assignment; ``nodes`` is (n_nodes, 2)."""
    acc = 0.0
    last = -1
    for g in range(ops.size):
        a = sources[2 * g]
        b = sources[2 * g + 1]
        # the gate just computed is taken from its register: in a chain, a load of what was just
        # stored would put the store's latency on the chain's critical path
        x = acc if a == last else nodes[a, 0]
        y = acc if b == last else nodes[b, 0]
        acc = op_value(ops[g], x, y)
        last = first_gate + g
        nodes[last, 0] = acc


@njit(cache=True, nogil=True)
def backward_pairs(ops, sources, first_gate, nodes):  # pragma: no cover - compiled
    """Gradients of a plan of binary gates, one assignment, last gate first (readers before sources)."""
    for g in range(ops.size - 1, -1, -1):
        ahead = 2 * max(g - PREFETCH_GATES, 0)
        prefetch_for_write(nodes, 2 * sources[ahead])
        prefetch_for_write(nodes, 2 * sources[ahead + 1])
        op = ops[g]
        a = sources[2 * g]
        b = sources[2 * g + 1]
        upstream = nodes[first_gate + g, 1]
        va = nodes[a, 0]  # both inputs read before either write, as a may be b
        vb = nodes[b, 0]
        nodes[a, 1] += upstream * op_partial(op, IDENTITY[op], vb)
        nodes[b, 1] += upstream * op_partial(op, va, IDENTITY[op])


@njit(cache=True, nogil=True)
def forward_one(ops, ptr, sources, first_gate, nodes):  # pragma: no cover - compiled
    """Values of every gate, one assignment: each gate folds its inputs with its op's value rule."""
    for g in range(ops.size):
        op = ops[g]
        start = ptr[g]
        acc = op_value(op, nodes[sources[start], 0], nodes[sources[start + 1], 0])
        for k in range(start + 2, ptr[g + 1]):
            acc = op_value(op, acc, nodes[sources[k], 0])
        nodes[first_gate + g, 0] = acc


@njit(cache=True, nogil=True)
def backward_one(ops, ptr, sources, first_gate, nodes, prefix):  # pragma: no cover - compiled
    """Gradients, one assignment, last gate first; ``prefix`` holds the folds before each input of a wide gate."""
    for g in range(ops.size - 1, -1, -1):
        ahead = max(g - PREFETCH_GATES, 0)
        for k in range(ptr[ahead], ptr[ahead + 1]):
            prefetch_for_write(nodes, 2 * sources[k])
        op = ops[g]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = nodes[first_gate + g, 1]
        if end - start == 2:
            a = sources[start]
            b = sources[start + 1]
            va = nodes[a, 0]
            vb = nodes[b, 0]
            nodes[a, 1] += upstream * op_partial(op, IDENTITY[op], vb)
            nodes[b, 1] += upstream * op_partial(op, va, IDENTITY[op])
        elif READS_OTHERS[op]:
            before = IDENTITY[op]
            for k in range(start, end):
                prefix[k - start] = before
                before = op_value(op, before, nodes[sources[k], 0])
            after = IDENTITY[op]
            for k in range(end - 1, start - 1, -1):
                src = sources[k]
                nodes[src, 1] += upstream * op_partial(op, prefix[k - start], after)
                after = op_value(op, after, nodes[src, 0])
        else:
            share = upstream * op_partial(op, IDENTITY[op], IDENTITY[op])
            for k in range(end - 1, start - 1, -1):
                nodes[sources[k], 1] += share


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
def forward_batch(ops, ptr, sources, first_gate, vals):  # pragma: no cover - compiled
    """forward_one for batch_size assignments at once: one row of numbers per node."""
    for g in range(ops.size):
        out = vals[first_gate + g]
        fold_rows(ops[g], out, vals[sources[ptr[g]]], vals[sources[ptr[g] + 1]])
        for k in range(ptr[g] + 2, ptr[g + 1]):
            fold_rows(ops[g], out, out, vals[sources[k]])


@njit(cache=True, nogil=True)
def backward_batch(ops, ptr, sources, first_gate, vals, grads, scratch):  # pragma: no cover
    """backward_one for batch_size assignments at once.

    ``scratch`` is (max_arity + 1, block), for gates of three or more inputs (``_wide_gate_batch``).
    """
    for g in range(ops.size - 1, -1, -1):
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
