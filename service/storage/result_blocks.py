"""A succeeded job's nodes block by block, in node order: ids, kind codes and numbers, for streamed answers.

A block holds about ``BLOCK_NUMBERS`` numbers per array whatever the batch size (262,144 nodes
of one assignment, 262 of a batch of 1,000), so an answer built from blocks holds one block at a
time, never the job. Ids are stored 16,384 to a row: a window keeps the row a block ends in, so
each row of ids is read and decoded once even when blocks are much smaller than it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from .graph_rows import CHUNK_NODES, node_rows
from .models import Graph, Job
from .result_chunks import NodeResults, read_results

BLOCK_NUMBERS = 1 << 18


class ResultsGone(RuntimeError):
    """The job (or its graph) was deleted while its results were being read."""


@dataclass(frozen=True)
class ResultBlock:
    """Nodes ``start`` to ``start + len(ids)``: their ids, code bytes (``graph_rows.node_codes``) and numbers."""

    start: int
    ids: list[str]
    codes: np.ndarray
    results: NodeResults


def block_nodes(batch_size: int, chunk_nodes: int) -> int:
    """Nodes per block: about BLOCK_NUMBERS numbers, a whole number of result chunks (each read once)."""
    nodes = max(1, BLOCK_NUMBERS // batch_size)
    return max(chunk_nodes, nodes // chunk_nodes * chunk_nodes)


def result_blocks(session: Session, graph: Graph, job: Job) -> Iterator[ResultBlock]:
    """Every node of ``job`` (succeeded, on ``graph``), a block at a time. :raise ResultsGone: deleted meanwhile."""
    ids = _IdWindow(session, graph)
    step = block_nodes(job.batch_size, job.chunk_nodes)
    for start in range(0, graph.n_nodes, step):
        stop = min(start + step, graph.n_nodes)
        node_ids, codes = ids.rows(start, stop)
        results = read_results(session, job, start, stop)
        if results.values is None or results.values.shape[0] != stop - start:
            raise ResultsGone(f"job {job.id} was deleted while its results were read")
        yield ResultBlock(start, node_ids, codes, results)


class _IdWindow:
    """Ids and codes of a run of whole id rows; reading forward keeps what the next block still needs."""

    def __init__(self, session: Session, graph: Graph) -> None:
        self.session, self.graph = session, graph
        self.lo = self.hi = 0
        self.ids: list[str] = []
        self.codes = np.empty(0, dtype=np.uint8)

    def rows(self, start: int, stop: int) -> tuple[list[str], np.ndarray]:
        if stop > self.hi:
            self._advance(start, stop)
        return self.ids[start - self.lo : stop - self.lo], self.codes[start - self.lo : stop - self.lo]

    def _advance(self, start: int, stop: int) -> None:
        keep_from = max(start, self.lo) if start < self.hi else None
        read_from = self.hi if keep_from is not None else start // CHUNK_NODES * CHUNK_NODES
        read_to = min(self.graph.n_nodes, -(-stop // CHUNK_NODES) * CHUNK_NODES)
        ids, codes = node_rows(self.session, self.graph, read_from, read_to)
        if len(ids) != read_to - read_from:
            raise ResultsGone(f"graph {self.graph.id} was deleted while its nodes were read")
        if keep_from is not None:
            ids = self.ids[keep_from - self.lo :] + ids
            codes = np.concatenate((self.codes[keep_from - self.lo :], codes))
            read_from = keep_from
        self.lo, self.hi, self.ids, self.codes = read_from, read_to, ids, codes
