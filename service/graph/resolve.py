"""Id resolution in one compiled pass: node ids and references in one buffer, an open-addressing table.

A Python dict lookup per reference cost about 770 ns at 10^6 nodes (each lands on a cold dict entry
and a cold ``str``: memory latency, not the interpreter), 1.5 s of the 2.7 s ``load_graph`` took for
10^6 binary gates. Here every item (the node ids first, then the references) is newline-terminated
in one ``bytes``; one sequential pass hashes them all (FNV-1a, finished with a multiply-xorshift),
then one pass inserts the ids into a table and looks every reference up, prefetching each item's
table slot ``2 * AHEAD`` items ahead and, ``AHEAD`` items ahead, the id bytes that slot points at,
so the two cache misses of a lookup overlap with other lookups instead of following each other.
Measured on this machine (2026-12-02, 10^6 wide binary gates, 3.1·10^6 items): 210 ms, against
580 ms for a first table that held only each id's number and prefetched only the slot (a lookup
then read the id's offset, then its bytes: two misses one after the other), and 544 ms for
``pyarrow.compute.index_in`` on the same buffer.

The table has at least 1.5 slots an id; a slot holds the id's number, its offset in the buffer, 32
bits of its hash and its length, so a lookup compares bytes only when the hash bits and the length
match. Linear probing over an unkeyed hash could be driven quadratic by ids made to collide, so
the pass gives up after ``PROBES_PER_ITEM`` probes an item on average; ``resolve`` then resolves
with a dict (Python's hash of ``str`` is keyed per process), slower but linear.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .kernel_cache import use_cache_for_rules
from .prefetch import prefetch_for_write

use_cache_for_rules()  # before the kernels are defined: they inline prefetch.py

AHEAD = 16  # items; 8 and 32 were slower on this machine (226 and 250 ms against 208)
PROBES_PER_ITEM = 16  # the average the pass may use before giving up (about 2 at its load)
UNKNOWN = -1

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_NEWLINE = 10


@njit(cache=True, nogil=True)
def item_hashes(text):  # pragma: no cover - compiled
    """The hash and the offset of each newline-terminated item of ``text`` (uint8); offsets n + 1."""
    n = 0
    for c in text:
        if c == _NEWLINE:
            n += 1
    hashes = np.empty(n, np.uint64)
    starts = np.empty(n + 1, np.int64)
    starts[0] = 0
    k = 0
    h = _FNV_OFFSET
    for i in range(text.size):
        c = text[i]
        if c == _NEWLINE:
            # FNV-1a mixes its last bytes little into the high bits, which pick the slot
            h ^= h >> np.uint64(32)
            h *= np.uint64(0xD6E8FEB86659FD93)
            h ^= h >> np.uint64(32)
            hashes[k] = h
            k += 1
            starts[k] = i + 1
            h = _FNV_OFFSET
        else:
            h = (h ^ np.uint64(c)) * _FNV_PRIME
    return hashes, starts


@njit(cache=True, nogil=True)
def _resolve_items(text, hashes, starts, n_ids, max_probes):  # pragma: no cover - compiled
    """Node number of every item, or UNKNOWN; and whether it finished within ``max_probes``.

    Items ``0..n_ids-1`` are the ids: each gets the number of the first id equal to it (its own,
    unless it repeats one). The others are references: the number of the id they equal.
    """
    n = hashes.size
    bits = 1
    while (1 << bits) < n_ids + n_ids // 2:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    table = np.full((1 << bits, 4), -1, np.int32)  # id number, offset, hash bits, length
    numbers = np.empty(n, np.int32)
    probes = 0
    for i in range(n):
        if i + 2 * AHEAD < n:
            prefetch_for_write(table, 4 * np.int64(hashes[i + 2 * AHEAD] >> shift))
        if n_ids <= i + AHEAD < n:
            ahead = np.int64(hashes[i + AHEAD] >> shift)
            if table[ahead, 0] >= 0:  # probably the id that reference will be compared with
                prefetch_for_write(text, np.int64(table[ahead, 1]))
        h = hashes[i]
        slot = np.int64(h >> shift)
        tag = np.int32(np.int64(h & np.uint64(0x7FFFFFFF)))
        start = starts[i]
        length = starts[i + 1] - start
        while True:
            probes += 1
            j = table[slot, 0]
            if j < 0:
                if i < n_ids:
                    table[slot, 0] = i
                    table[slot, 1] = start
                    table[slot, 2] = tag
                    table[slot, 3] = length
                    numbers[i] = i
                else:
                    numbers[i] = UNKNOWN
                break
            if table[slot, 2] == tag and table[slot, 3] == length:
                other = table[slot, 1]
                same = True
                for k in range(length):
                    if text[other + k] != text[start + k]:
                        same = False
                        break
                if same:
                    numbers[i] = j
                    break
            slot = (slot + 1) & mask
        if probes > max_probes:
            return numbers, False
    return numbers, True


def resolve(text: bytes, n_ids: int, max_probes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Node number of every newline-terminated item of ``text`` (int32), and the items' offsets.

    The first ``n_ids`` items are the node ids; each gets the number of the first id equal to it,
    so ``numbers[i] != i`` marks a duplicate. Every later item is a reference: the number of the
    id it equals, or ``UNKNOWN``. Valid ids are ASCII without a newline (``structure.py``).
    ``max_probes`` (default: ``PROBES_PER_ITEM`` an item, and some slack) bounds the table's work.
    """
    buffer = np.frombuffer(text, dtype=np.uint8)
    hashes, starts = item_hashes(buffer)
    if n_ids >= 2**31 - 1 or len(text) >= 2**31:  # the table holds numbers and offsets as int32
        return _resolve_by_dict(text, n_ids), starts
    if max_probes is None:
        max_probes = PROBES_PER_ITEM * hashes.size + 1024
    numbers, finished = _resolve_items(buffer, hashes, starts, n_ids, max_probes)
    if not finished:
        numbers = _resolve_by_dict(text, n_ids)
    return numbers, starts


def _resolve_by_dict(text: bytes, n_ids: int) -> np.ndarray:
    """``resolve``'s numbers through a dict: for the rare table that fills up with collisions."""
    items = text[:-1].decode("ascii", "replace").split("\n") if text else []
    index: dict[str, int] = {}
    for i, node_id in enumerate(items[:n_ids]):
        index.setdefault(node_id, i)
    get = index.get
    return np.fromiter((get(item, UNKNOWN) for item in items), dtype=np.int32, count=len(items))
