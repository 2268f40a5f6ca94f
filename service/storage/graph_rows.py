"""Graphs in the database: the plan blob, node ids and kinds in chunks, an id -> node number index, and tenant reads.

Ids are stored ``CHUNK_NODES`` to a row, in node order, for paging; the index is split
into buckets by a stable hash of the id, so looking up one node reads one small row.
Every read a request makes is scoped to the caller's tenant: another tenant's graph is not found.
"""

from __future__ import annotations

import uuid
import zlib
from itertools import pairwise

import numpy as np
import orjson
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from service.graph import Plan
from service.graph.node_ids import SEPARATOR, JoinedIds
from service.graph.ops import NAMES, OPS
from service.graph.plan import CONSTANT, GATE, INPUT
from service.graph.plan_blob import plan_from_bytes, plan_to_bytes
from service.graph.structure import ID_CHARS

from .chunks import chunk_rows
from .keyset import After, newest_first
from .models import Graph, GraphBucket, GraphChunk

CHUNK_NODES = 16_384
BUCKET_NODES = 4_096

#: The code byte of each node in ``graph_chunks.codes``: 0 input, 1 constant, 2 + the op code for a gate.
INPUT_CODE, CONSTANT_CODE, FIRST_GATE_CODE = 0, 1, 2
#: The kind and op name (None but for gates) of each code byte.
CODE_KINDS = (INPUT, CONSTANT) + (GATE,) * len(OPS)
CODE_OPS = (None, None) + NAMES


def node_codes(plan: Plan) -> np.ndarray:
    """The code byte of every node of a plan."""
    codes = np.empty(plan.n_nodes, dtype=np.uint8)
    codes[: plan.n_inputs] = INPUT_CODE
    codes[plan.n_inputs : plan.first_gate] = CONSTANT_CODE
    codes[plan.first_gate :] = FIRST_GATE_CODE + plan.ops
    return codes


def kinds_and_ops(codes: np.ndarray) -> list[tuple[str, str | None]]:
    """(kind, op name or None) of each node, from its code byte."""
    return [(CODE_KINDS[c], CODE_OPS[c]) for c in codes.tolist()]


def save_graph(session: Session, tenant_id: int, plan: Plan) -> Graph:
    """Insert a compiled graph, its id chunks and its index (the caller commits)."""
    graph = Graph(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        name=plan.name,
        n_inputs=plan.n_inputs,
        n_constants=plan.n_constants,
        n_gates=plan.n_gates,
        n_edges=int(plan.sources.size),
        outputs=orjson.dumps(plan.output_ids).decode(),
        plan=plan_to_bytes(plan),
    )
    session.add(graph)
    session.flush()
    codes = node_codes(plan)
    ids = plan.node_ids
    chunks = [
        {
            "graph_id": graph.id,
            "chunk": c,
            "ids": _json_ids(ids.text[ids.starts[s] : ids.starts[min(s + CHUNK_NODES, plan.n_nodes)] - 1]),
            "codes": codes[s : s + CHUNK_NODES].tobytes(),
        }
        for c, s in enumerate(range(0, plan.n_nodes, CHUNK_NODES))
    ]
    session.execute(insert(GraphChunk), chunks)
    session.execute(insert(GraphBucket), _buckets(graph.id, ids))
    return graph


# Every byte a valid node id may hold (SPEC.md: [A-Za-z0-9_.:-]), and the newline that separates them.
_ID_BYTES = ID_CHARS + SEPARATOR


def _json_ids(joined: bytes) -> str:
    """The JSON array of newline-separated ids, written from the joined bytes without a str per id.

    Valid ids need no JSON escaping, so the array is their bytes with the separators replaced; any
    other byte (never in a compiled plan, which holds valid ids only) goes through orjson.
    """
    if not joined:
        return "[]"
    if joined.translate(None, _ID_BYTES):  # something left that may need escaping
        return orjson.dumps(joined.decode().split("\n")).decode()
    return '["' + joined.decode("ascii").replace("\n", '","') + '"]'


def _buckets(graph_id: str, ids: JoinedIds) -> list[dict]:
    """Index rows: each bucket holds ``[[ids], [node numbers]]`` of the ids that hash to it (vectorised)."""
    n_buckets = bucket_count(len(ids))
    items = ids.text.split(b"\n")[:-1]  # bytes: crc32 of each without encoding a str first
    which = np.fromiter(map(zlib.crc32, items), dtype=np.int64, count=len(items)) % n_buckets
    del items
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n_buckets + 1)).tolist()
    by_bucket = ids.reordered(order)  # one gather of every id's bytes, not one object an id
    numbers = order.tolist()
    rows = []
    for b, (lo, hi) in enumerate(pairwise(bounds)):
        bucket_ids = _json_ids(by_bucket.text[by_bucket.starts[lo] : by_bucket.starts[hi] - 1] if hi > lo else b"")
        rows.append(
            {"graph_id": graph_id, "bucket": b, "entries": f"[{bucket_ids},{orjson.dumps(numbers[lo:hi]).decode()}]"}
        )
    return rows


def bucket_count(n_nodes: int) -> int:
    return max(1, -(-n_nodes // BUCKET_NODES))


def bucket_of(node_id: str, n_buckets: int) -> int:
    """A hash that is the same in every process (Python's own ``hash`` of a str is not)."""
    return zlib.crc32(node_id.encode()) % n_buckets


def find_node(session: Session, graph: Graph, node_id: str) -> int | None:
    """The node number of ``node_id`` in ``graph``, or None; reads one bucket row."""
    bucket = bucket_of(node_id, bucket_count(graph.n_nodes))
    entries = session.scalar(
        select(GraphBucket.entries).where(GraphBucket.graph_id == graph.id, GraphBucket.bucket == bucket)
    )
    if not entries:
        return None
    ids, numbers = orjson.loads(entries)
    try:
        return numbers[ids.index(node_id)]
    except ValueError:
        return None


def node_rows(session: Session, graph: Graph, start: int, stop: int) -> tuple[list[str], np.ndarray]:
    """Ids and kind codes of nodes ``start`` to ``stop`` (exclusive), from the chunks that hold them."""
    rows, lo = chunk_rows(
        session, GraphChunk, GraphChunk.graph_id == graph.id, start, stop, CHUNK_NODES, GraphChunk.ids, GraphChunk.codes
    )
    ids = [i for row in rows for i in orjson.loads(row.ids)]
    codes = np.frombuffer(b"".join(row.codes for row in rows), dtype=np.uint8)
    return ids[lo : lo + stop - start], codes[lo : lo + stop - start]


def load_plan(session: Session, graph: Graph) -> Plan:
    """The compiled plan of a stored graph (no validation: it was validated on the way in)."""
    ids, _ = node_rows(session, graph, 0, graph.n_nodes)
    return plan_from_bytes(graph.plan, ids, graph.name)


def delete_graph(session: Session, graph_id: str) -> None:
    """Delete a graph; its chunks, index, jobs and results go with it (ON DELETE CASCADE)."""
    session.execute(delete(Graph).where(Graph.id == graph_id))


def node_rows_at(session: Session, graph: Graph, numbers: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Ids and kind codes of the given node numbers, in that order, reading only their chunks."""
    chunk_of = numbers // CHUNK_NODES
    wanted = sorted(set(chunk_of.tolist()))
    rows = session.execute(
        select(GraphChunk.chunk, GraphChunk.ids, GraphChunk.codes).where(
            GraphChunk.graph_id == graph.id, GraphChunk.chunk.in_(wanted)
        )
    ).all()
    by_chunk = {row.chunk: (orjson.loads(row.ids), np.frombuffer(row.codes, dtype=np.uint8)) for row in rows}
    offsets = (numbers % CHUNK_NODES).tolist()
    ids = [by_chunk[c][0][o] for c, o in zip(chunk_of.tolist(), offsets, strict=True)]
    codes = np.array([by_chunk[c][1][o] for c, o in zip(chunk_of.tolist(), offsets, strict=True)], dtype=np.uint8)
    return ids, codes


_TENANT_GRAPH_ID = select(Graph.id).where(Graph.id == bindparam("graph_id"), Graph.tenant_id == bindparam("tenant_id"))


def tenant_graph(session: Session, tenant_id: int, graph_id: str) -> Graph | None:
    """The tenant's graph, or None (also for another tenant's id)."""
    return session.scalar(select(Graph).where(Graph.id == graph_id, Graph.tenant_id == tenant_id))


def tenant_graph_id(session: Session, tenant_id: int, graph_id: str) -> str | None:
    """The id if the tenant has this graph, in one cheap query (submissions run it), else None."""
    return session.execute(_TENANT_GRAPH_ID, {"graph_id": graph_id, "tenant_id": tenant_id}).scalar()


def graph_by_id(session: Session, graph_id: str) -> Graph | None:
    """A graph whatever its tenant (for a job already found through its tenant)."""
    return session.get(Graph, graph_id)


def graph_page(session: Session, tenant_id: int, after: After | None, limit: int) -> tuple[list[Graph], bool]:
    """The tenant's graphs newest first, after a keyset position; and whether more follow."""
    return newest_first(session, select(Graph).where(Graph.tenant_id == tenant_id), Graph, after, limit)


def output_ids(session: Session, graph_ids: set[str]) -> dict[str, list[str]]:
    """The output ids of each of these graphs, in one query."""
    if not graph_ids:
        return {}
    rows = session.execute(select(Graph.id, Graph.outputs).where(Graph.id.in_(sorted(graph_ids)))).all()
    return {row.id: orjson.loads(row.outputs) for row in rows}
