"""A Plan's arrays to bytes and back, so a compiled graph is stored once and never re-validated.

The blob is an ``.npz`` of the plan's arrays; node ids are not in it (storage keeps them in
chunks, for paging and lookups). The edge array is stored under its first name, ``args``, so
blobs written before it was called ``sources`` still load.
"""

from __future__ import annotations

import io

import numpy as np

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


def plan_from_bytes(blob: bytes, ids: list[str], name: str | None = None) -> Plan:
    with np.load(io.BytesIO(blob)) as arrays:
        n_inputs, max_arity = (int(v) for v in arrays["meta"])
        parts = {name: arrays[key] for name, key in _KEYS.items()}
    return Plan(ids=ids, n_inputs=n_inputs, name=name, max_arity=max_arity, **parts)
