"""A Plan's arrays to bytes and back, so a compiled graph is stored once and never re-validated.

The blob is an ``.npz`` of the plan's arrays; node ids are not in it (storage keeps them in
chunks, for paging and lookups) and are joined into the plan's bytes (``node_ids.py``) on load,
so a plan kept in a cache holds no ``str`` per node. The edge array is stored under its first
name, ``args``, so blobs written before it was called ``sources`` still load.
"""

from __future__ import annotations

import io

import numpy as np

from .node_ids import JoinedIds
from .plan import Plan

#: Plan attribute -> key in the blob.
_KEYS = {
    "constants": "constants",
    "ops": "ops",
    "ptr": "ptr",
    "sources": "args",
    "order": "order",
    "outputs": "outputs",
}


def plan_to_bytes(plan: Plan) -> bytes:
    buffer = io.BytesIO()
    meta = np.array([plan.n_inputs, plan.max_arity], dtype=np.int64)
    np.savez(buffer, meta=meta, **{key: getattr(plan, name) for name, key in _KEYS.items()})
    return buffer.getvalue()


def plan_from_bytes(blob: bytes, ids: list[str] | JoinedIds, name: str | None = None) -> Plan:
    """The plan of a blob and its node ids (as storage reads them, a list; or joined already).

    :raise ValueError: the number of ids is not the plan's number of nodes.
    """
    node_ids = ids if isinstance(ids, JoinedIds) else JoinedIds.of(ids)
    with np.load(io.BytesIO(blob)) as arrays:
        n_inputs, max_arity = (int(v) for v in arrays["meta"])
        parts = {name: arrays[key] for name, key in _KEYS.items()}
    plan = Plan(node_ids=node_ids, n_inputs=n_inputs, name=name, max_arity=max_arity, **parts)
    if plan.n_nodes != plan.first_gate + plan.n_gates:
        raise ValueError(f"{plan.n_nodes} ids for a plan of {plan.first_gate + plan.n_gates} nodes")
    return plan
