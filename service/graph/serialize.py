"""A Plan's arrays to bytes and back, so a compiled graph is stored once and never re-validated.

Node ids are not in the blob: storage keeps them in chunks, for paging and lookups.
"""
from __future__ import annotations

import io

import numpy as np

from .plan import Plan

_ARRAYS = ("constants", "ops", "ptr", "args", "order", "outputs")

#: One byte a node in node order: what kind of node it is, and a gate's op.
INPUT_CODE, CONSTANT_CODE, ADD_CODE, MUL_CODE = 0, 1, 2, 3
CODE_KINDS = ("input", "constant", "gate", "gate")
CODE_OPS = (None, None, "add", "mul")


def plan_to_bytes(plan: Plan) -> bytes:
    buffer = io.BytesIO()
    meta = np.array([plan.n_inputs, plan.max_arity], dtype=np.int64)
    np.savez(buffer, meta=meta, **{name: getattr(plan, name) for name in _ARRAYS})
    return buffer.getvalue()


def plan_from_bytes(blob: bytes, ids: list[str], name: str | None = None) -> Plan:
    with np.load(io.BytesIO(blob)) as arrays:
        n_inputs, max_arity = (int(v) for v in arrays["meta"])
        parts = {key: arrays[key] for key in _ARRAYS}
    return Plan(ids=ids, n_inputs=n_inputs, name=name, max_arity=max_arity, **parts)


def node_codes(plan: Plan) -> np.ndarray:
    """The kind-and-op byte of every node."""
    codes = np.empty(plan.n_nodes, dtype=np.uint8)
    codes[: plan.n_inputs] = INPUT_CODE
    codes[plan.n_inputs : plan.first_gate] = CONSTANT_CODE
    codes[plan.first_gate :] = ADD_CODE + plan.ops
    return codes
