"""Answers as plain dicts (shapes declared in http_schemas.py), and JSON responses sent with orjson.

Storage hands over numbers; here they become the answer's JSON, with non-finite numbers as
the strings SPEC.md names (``json_float``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from flask import Response

from service.graph import json_float, json_floats
from service.runtime.job_states import ACTIVE_STATES
from service.runtime.times import iso
from service.storage.job_reads import Outcome
from service.storage.models import Graph
from service.storage.result_chunks import NodeResults


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response


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


def job_body(job: Any, outcome: Outcome) -> dict[str, Any]:
    """A job (an ORM object or a row) and what it produced."""
    body = {
        "id": job.id,
        "graph_id": job.graph_id,
        "status": job.status,
        "batch_size": job.batch_size,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "expires_at": iso(job.expires_at),
        "attempts": job.attempts,
        "outputs": _outputs(outcome.outputs, job.batched),
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
    }
    # always present, null when they do not apply: clients generated from the document expect every field
    active = job.status in ACTIVE_STATES
    body["stage"] = job.stage if active else None
    body["progress"] = job.progress if active else None
    check = outcome.gradient_check if job.check_gradients else None
    body["gradient_check"] = None if check is None else {k: _number(v) for k, v in check.as_dict().items()}
    return body


def _outputs(outputs: dict[str, np.ndarray] | None, batched: bool) -> dict[str, Any] | None:
    if outputs is None:
        return None
    return {
        name: (row if batched else row[0])
        for name, row in zip(outputs, json_floats(np.array(list(outputs.values()))), strict=True)
    }


def _number(value: Any) -> Any:
    return json_float(value) if isinstance(value, float) else value


def node_items(
    ids: list[str], kinds_ops: list[tuple[str, str | None]], results: NodeResults, batched: bool
) -> list[dict[str, Any]]:
    """Node items: numbers, or arrays of batch_size numbers in a batch; tangents only if the job had a direction."""
    values, grads = _column(results.values, batched), _column(results.grads, batched)
    items = [
        {"id": node_id, "kind": kind, "value": value, "grad": grad}
        for node_id, (kind, _), value, grad in zip(ids, kinds_ops, values, grads, strict=True)
    ]
    if results.tangents is not None:
        tangents, grad_tangents = _column(results.tangents, batched), _column(results.grad_tangents, batched)
        for item, tangent, grad_tangent in zip(items, tangents, grad_tangents, strict=True):
            item["tangent"], item["grad_tangent"] = tangent, grad_tangent
    for item, (_, op) in zip(items, kinds_ops, strict=True):
        if op is not None:
            item["op"] = op
    return items


def _column(numbers: np.ndarray, batched: bool) -> list[Any]:
    """(n, batch_size) numbers as JSON: a list per node in a batch, else one number per node."""
    rows = json_floats(numbers)
    return rows if batched else [row[0] for row in rows]
