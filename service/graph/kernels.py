"""Compiled loops over a plan: topological order, forward pass, backward pass.

Each gate's forward rule and backward rule sit side by side, as in micrograd, but over
flat arrays (CSR: gate g reads ``args[ptr[g]:ptr[g+1]]``) instead of one object per node,
and in loops instead of recursion, so a chain of 10^6 gates is just a long loop.

Gradients are accumulated with ``+=`` one edge at a time, which is what makes fan-out and
repeated inputs (``mul(x, x)``) come out right; a vectorised ``grad[idx] += w`` would drop
repeated indices. The gradient of a ``mul`` input is the product of the other inputs,
from prefix and suffix products, never output / input (which is 0/0 when an input is 0).

Values are laid out one row per node, ``(n_nodes,)`` for one assignment or
``(n_nodes, B)`` for a batch, so each gate streams over contiguous rows of B numbers.
"""
from __future__ import annotations

import os
from pathlib import Path

# numba caches compiled kernels beside this file; where that is read-only (a container
# image), it would silently recompile in every process, costing seconds per worker start.
if "NUMBA_CACHE_DIR" not in os.environ and not os.access(Path(__file__).parent, os.W_OK):
    os.environ["NUMBA_CACHE_DIR"] = str(Path.home() / ".cache" / "gategraph" / "numba")

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

ADD = 0
MUL = 1


@njit(cache=True, nogil=True)
def topological_order(ptr, args, first_gate):  # pragma: no cover - compiled
    """Kahn's algorithm over gates; returns (order, count); count < n_gates means a cycle."""
    n_gates = ptr.size - 1
    pending = np.zeros(n_gates, np.int64)  # unresolved gate inputs per gate
    reader_count = np.zeros(n_gates + 1, np.int64)
    for g in range(n_gates):
        for k in range(ptr[g], ptr[g + 1]):
            src = args[k] - first_gate
            if src >= 0:
                pending[g] += 1
                reader_count[src + 1] += 1
    reader_ptr = np.cumsum(reader_count)
    readers = np.empty(reader_ptr[-1], np.int64)
    fill = reader_ptr[:-1].copy()
    for g in range(n_gates):
        for k in range(ptr[g], ptr[g + 1]):
            src = args[k] - first_gate
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


@njit(cache=True, nogil=True)
def forward_one(ops, ptr, args, order, first_gate, vals):  # pragma: no cover - compiled
    """values of every gate, one assignment: add sums its inputs, mul multiplies them."""
    for t in range(order.size):
        g = order[t]
        start = ptr[g]
        end = ptr[g + 1]
        acc = vals[args[start]]
        if ops[g] == ADD:
            for k in range(start + 1, end):
                acc += vals[args[k]]
        else:
            for k in range(start + 1, end):
                acc *= vals[args[k]]
        vals[first_gate + g] = acc


@njit(cache=True, nogil=True)
def backward_one(ops, ptr, args, order, first_gate, vals, grads, scratch):  # pragma: no cover
    """Gradients, one assignment, gates in reverse topological order (readers before sources)."""
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        if ops[g] == ADD:  # d(a+b)/da = 1
            for k in range(start, end):
                grads[args[k]] += upstream
        elif end - start == 2:  # d(ab)/da = b; both read before either write, as a may be b
            a = args[start]
            b = args[start + 1]
            va = vals[a]
            vb = vals[b]
            grads[a] += upstream * vb
            grads[b] += upstream * va
        else:  # d(prod)/dx_k = prefix_k * suffix_k
            prefix = upstream
            for k in range(start, end):
                scratch[k - start] = prefix
                prefix *= vals[args[k]]
            suffix = 1.0
            for k in range(end - 1, start - 1, -1):
                grads[args[k]] += scratch[k - start] * suffix
                suffix *= vals[args[k]]


@njit(cache=True, nogil=True)
def forward_batch(ops, ptr, args, order, first_gate, vals):  # pragma: no cover - compiled
    """forward_one for B assignments at once: one row of B numbers per node."""
    width = vals.shape[1]
    for t in range(order.size):
        g = order[t]
        start = ptr[g]
        end = ptr[g + 1]
        out = vals[first_gate + g]
        src = vals[args[start]]
        for b in range(width):
            out[b] = src[b]
        if ops[g] == ADD:
            for k in range(start + 1, end):
                src = vals[args[k]]
                for b in range(width):
                    out[b] += src[b]
        else:
            for k in range(start + 1, end):
                src = vals[args[k]]
                for b in range(width):
                    out[b] *= src[b]


@njit(cache=True, nogil=True)
def backward_batch(ops, ptr, args, order, first_gate, vals, grads, scratch):  # pragma: no cover
    """backward_one for B assignments at once."""
    width = vals.shape[1]
    for t in range(order.size - 1, -1, -1):
        g = order[t]
        start = ptr[g]
        end = ptr[g + 1]
        upstream = grads[first_gate + g]
        if ops[g] == ADD:
            for k in range(start, end):
                dst = grads[args[k]]
                for b in range(width):
                    dst[b] += upstream[b]
        elif end - start == 2:
            a = args[start]
            c = args[start + 1]
            va = vals[a]
            vc = vals[c]
            ga = grads[a]
            gc = grads[c]
            for b in range(width):
                ga[b] += upstream[b] * vc[b]
            for b in range(width):
                gc[b] += upstream[b] * va[b]
        else:  # wide products are rare: one column at a time keeps scratch at one row
            for b in range(width):
                prefix = upstream[b]
                for k in range(start, end):
                    scratch[k - start] = prefix
                    prefix *= vals[args[k], b]
                suffix = 1.0
                for k in range(end - 1, start - 1, -1):
                    grads[args[k], b] += scratch[k - start] * suffix
                    suffix *= vals[args[k], b]
