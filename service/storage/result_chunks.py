"""Per-node results of a job: values and gradients as float64 chunks of consecutive nodes.

A chunk holds ``chunk_nodes`` nodes x B numbers (about 128 KiB), so a 10^6-node job is about
60 rows of each array, written in one transaction, and one node is one primary-key read.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, bindparam, delete, insert
from sqlalchemy.orm import Session

from .chunks import chunk_rows
from .models import Job, JobChunk

CHUNK_CELLS = 16_384


def chunk_nodes_for(batch_size: int) -> int:
    return max(1, CHUNK_CELLS // batch_size)


CHUNKS = JobChunk.__table__
_DELETE = delete(CHUNKS).where(CHUNKS.c.job_id == bindparam("job_id"))
_INSERT = insert(CHUNKS)


def write_results(
    connection: Connection | Session, job_id: str, values: np.ndarray, grads: np.ndarray, chunk_nodes: int
) -> int:
    """Replace the job's result chunks (idempotent: a re-run overwrites, never duplicates)."""
    connection.execute(_DELETE, {"job_id": job_id})
    rows = [
        {
            "job_id": job_id,
            "chunk": c,
            "values": np.ascontiguousarray(values[s : s + chunk_nodes]).tobytes(),
            "grads": np.ascontiguousarray(grads[s : s + chunk_nodes]).tobytes(),
        }
        for c, s in enumerate(range(0, values.shape[0], chunk_nodes))
    ]
    connection.execute(_INSERT, rows)
    return len(rows)


def read_results(session: Session, job: Job, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and gradients of nodes ``start`` to ``stop`` (exclusive), shape (stop - start, B)."""
    rows, lo = chunk_rows(
        session, JobChunk, JobChunk.job_id == job.id, start, stop, job.chunk_nodes, JobChunk.values, JobChunk.grads
    )

    def stack(parts: list[bytes]) -> np.ndarray:
        return np.frombuffer(b"".join(parts), dtype=np.float64).reshape(-1, job.batch_size)[lo : lo + stop - start]

    return stack([r.values for r in rows]), stack([r.grads for r in rows])
