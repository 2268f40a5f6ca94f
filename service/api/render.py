"""Answers as plain dicts (shapes declared in schemas.py) and JSON responses sent with orjson."""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

import numpy as np
import orjson
from flask import Response

from service.graph import Problem, json_floats
from service.graph.serialize import CODE_KINDS, CODE_OPS
from service.storage.models import ACTIVE_STATES, Graph, Job

from .problems import invalid


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response


def iso(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with a Z (SQLite hands back naive datetimes, which are UTC here)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def graph_body(graph: Graph, definition: dict | None = None) -> dict[str, Any]:
    body = {
        "id": graph.id,
        "name": graph.name,
        "n_inputs": graph.n_inputs,
        "n_constants": graph.n_constants,
        "n_gates": graph.n_gates,
        "n_nodes": graph.n_nodes,
        "outputs": orjson.loads(graph.outputs),
        "created_at": iso(graph.created_at),
    }
    if definition is not None:
        body["definition"] = definition
    return body


def job_body(job: Job) -> dict[str, Any]:
    body = {
        "id": job.id,
        "graph_id": job.graph_id,
        "status": job.status,
        "batch_size": job.batch_size,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "attempts": job.attempts,
        "outputs": orjson.loads(job.outputs) if job.outputs else None,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
    }
    if job.status in ACTIVE_STATES:
        body["stage"] = job.stage
        body["progress"] = job.progress
    if job.check_gradients:
        body["gradient_check"] = orjson.loads(job.gradient_check) if job.gradient_check else None
    return body


def node_items(ids: list[str], codes: np.ndarray, values: np.ndarray, grads: np.ndarray, batched: bool) -> list[dict[str, Any]]:
    """Node items; values and grads are (n, B) arrays, written as numbers or arrays of B."""
    vals, grs = json_floats(values), json_floats(grads)
    if not batched:
        vals, grs = [row[0] for row in vals], [row[0] for row in grs]
    items = []
    for node_id, code, value, grad in zip(ids, codes.tolist(), vals, grs):
        item = {"id": node_id, "kind": CODE_KINDS[code], "value": value, "grad": grad}
        if CODE_OPS[code]:
            item["op"] = CODE_OPS[code]
        items.append(item)
    return items


def encode_cursor(state: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str | None, check: type) -> Any:
    """The state in a cursor made by encode_cursor. :raise ApiProblem: 422 if it is not one."""
    if cursor is None:
        return None
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        state = None
    if not isinstance(state, check):
        raise invalid([Problem("cursor", "is not a cursor this service gave out")], "query string")
    return state
