"""Per-node results of a job: values and gradients (and tangents) as float64 chunks of consecutive nodes.

A chunk holds ``chunk_nodes`` nodes x B numbers (about 128 KiB), so a 10^6-node job is about
60 rows of each array, written in one transaction, and one node is one primary-key read. A job
with a direction stores its tangents and gradients' tangents in the same rows, chunked alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, bindparam, delete, insert
from sqlalchemy.orm import Session

from service.graph import Evaluation

from .chunks import chunk_rows
from .models import Job, JobChunk

CHUNK_CELLS = 16_384


def chunk_nodes_for(batch_size: int) -> int:
    return max(1, CHUNK_CELLS // batch_size)


CHUNKS = JobChunk.__table__
_DELETE = delete(CHUNKS).where(CHUNKS.c.job_id == bindparam("job_id"))
_INSERT = insert(CHUNKS)


def write_results(connection: Connection | Session, job_id: str, result: Evaluation, chunk_nodes: int) -> int:
    """Replace the job's result chunks (idempotent: a re-run overwrites, never duplicates)."""
    connection.execute(_DELETE, {"job_id": job_id})

    def part(numbers: np.ndarray | None, s: int) -> bytes | None:
        return None if numbers is None else np.ascontiguousarray(numbers[s : s + chunk_nodes]).tobytes()

    rows = [
        {
            "job_id": job_id,
            "chunk": c,
            "values": part(result.values, s),
            "grads": part(result.grads, s),
            "tangents": part(result.tangents, s),
            "grad_tangents": part(result.grad_tangents, s),
        }
        for c, s in enumerate(range(0, result.values.shape[0], chunk_nodes))
    ]
    connection.execute(_INSERT, rows)
    return len(rows)


@dataclass(frozen=True)
class NodeResults:
    """Values and gradients of consecutive (or chosen) nodes, each (n, batch_size); tangents None if no direction."""

    values: np.ndarray
    grads: np.ndarray
    tangents: np.ndarray | None = None
    grad_tangents: np.ndarray | None = None

    def take(self, rows: np.ndarray | slice) -> NodeResults:
        """These nodes' results, in the order of ``rows`` (an index array, or a slice: then views)."""

        def pick(numbers: np.ndarray | None) -> np.ndarray | None:
            return None if numbers is None else numbers[rows]

        return NodeResults(self.values[rows], self.grads[rows], pick(self.tangents), pick(self.grad_tangents))


def read_results(session: Session, job: Job, start: int, stop: int) -> NodeResults:
    """Results of nodes ``start`` to ``stop`` (exclusive), each array (stop - start, B)."""
    columns = (JobChunk.values, JobChunk.grads, JobChunk.tangents, JobChunk.grad_tangents)
    rows, lo = chunk_rows(session, JobChunk, JobChunk.job_id == job.id, start, stop, job.chunk_nodes, *columns)

    def stack(parts: list[bytes | None]) -> np.ndarray | None:
        if not parts or parts[0] is None:
            return None
        return np.frombuffer(b"".join(parts), dtype=np.float64).reshape(-1, job.batch_size)[lo : lo + stop - start]

    return NodeResults(*(stack([r[i] for r in rows]) for i in range(len(columns))))
