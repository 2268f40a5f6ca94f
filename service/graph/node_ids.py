"""Node ids held as one buffer of joined bytes instead of a list of ``str`` objects.

A list of the 1.1·10^6 ids of a 10^6-gate graph costs 67.6 MiB (a 50-odd byte ``str`` object
each, plus the list's pointer), more than the plan's arrays and one assignment's values and
gradients together. Valid ids are ASCII and cannot contain a newline, so they are kept here
newline-terminated in one ``bytes`` (about 8 bytes an id) with the offset of each (8 more):
id ``i`` is ``text[starts[i]:starts[i + 1] - 1]``. Lists of ``str`` are built only where a caller
asks for them, and only for the range it asks for.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit

SEPARATOR = b"\n"  # ends every id; valid ids cannot contain it (structure.py)
_NEWLINE = ord(SEPARATOR)


def item_starts(text: bytes) -> np.ndarray:
    """Offsets of the newline-terminated items of ``text``, and its length (n + 1, int64)."""
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == _NEWLINE)
    starts = np.empty(ends.size + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends + 1
    return starts


def join_ids(ids: list[str]) -> bytes:
    """Newline-terminated ASCII ids (``b""`` for none).

    :raise TypeError: an item is not a str; :raise UnicodeEncodeError: one is not ASCII.
    """
    return ("\n".join(ids) + "\n").encode("ascii") if ids else b""


@njit(cache=True, nogil=True)
def _gather(text, lo, starts):  # pragma: no cover - compiled
    """Item k of the result is ``text[lo[k] : lo[k] + starts[k + 1] - starts[k]]``: a copy a byte, no index arrays."""
    out = np.empty(starts[-1], np.uint8)
    for k in range(lo.size):
        src = lo[k]
        for j in range(starts[k], starts[k + 1]):
            out[j] = text[src]
            src += 1
    return out


class JoinedIds:
    """Ids in one buffer, read like a read-only sequence of str; each read builds new str objects."""

    __slots__ = ("starts", "text")

    def __init__(self, text: bytes, starts: np.ndarray):
        self.text = text
        self.starts = starts

    @classmethod
    def of(cls, ids: Iterable[str]) -> JoinedIds:
        """Join a list of valid ids.

        :raise ValueError: an id holds a newline or a character that is not ASCII (not a valid id).
        """
        ids = ids if isinstance(ids, list) else list(ids)
        text = join_ids(ids)
        starts = item_starts(text)
        if starts.size != len(ids) + 1:
            raise ValueError("a node id holds a newline")
        return cls(text, starts)

    def __len__(self) -> int:
        return self.starts.size - 1

    def __getitem__(self, i: int) -> str:
        """One id; negative numbers count from the end, as for a list."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"node {i} of {n}")
        i %= n
        return self.text[self.starts[i] : self.starts[i + 1] - 1].decode("ascii")

    def between(self, start: int, stop: int) -> list[str]:
        """Ids ``start`` to ``stop`` (exclusive), clipped to the ids there are, as a list slice is."""
        start, stop, _ = slice(start, stop).indices(len(self))
        if start >= stop:
            return []
        # one decode and one split in C for the whole range, not one call an id
        return self.text[self.starts[start] : self.starts[stop] - 1].decode("ascii").split("\n")

    def take(self, numbers: np.ndarray | list[int]) -> list[str]:
        """The ids of these node numbers (non-negative), in that order."""
        numbers = np.asarray(numbers, dtype=np.int64)
        if numbers.size <= 64:
            lo, hi = self.starts[numbers].tolist(), (self.starts[numbers + 1] - 1).tolist()
            return [self.text[a:b].decode("ascii") for a, b in zip(lo, hi, strict=True)]
        return self.reordered(numbers).tolist()

    def reordered(self, numbers: np.ndarray) -> JoinedIds:
        """The ids of these node numbers (non-negative, int64), in that order, joined anew.

        Their bytes are gathered in one vectorised copy, newlines included: for many ids (every
        output of a wide graph, the index of a whole graph) that is much faster than a slice an id.
        """
        lo = self.starts[numbers]
        starts = np.empty(numbers.size + 1, dtype=np.int64)
        starts[0] = 0
        np.cumsum(self.starts[numbers + 1] - lo, out=starts[1:])
        text = _gather(np.frombuffer(self.text, dtype=np.uint8), lo, starts)
        return JoinedIds(text.tobytes(), starts)

    def tolist(self) -> list[str]:
        return self.between(0, len(self))

    @property
    def nbytes(self) -> int:
        """Bytes of the buffer and the offsets."""
        return len(self.text) + self.starts.nbytes

    def __repr__(self) -> str:
        return f"JoinedIds({len(self)} ids, {self.nbytes} bytes)"
