"""/v1/jobs/{id}/nodes and /results: every node's value and gradient (and tangents).

``/nodes`` answers pages of JSON by cursor (or ranked by |gradient|), each bounded by MAX_PAGE items
and MAX_PAGE_NUMBERS numbers; ``/results`` streams them all at once as Arrow, NDJSON or CSV.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
from flask import Response, request, stream_with_context
from marshmallow import Schema, fields, validate

from service.graph import Problem
from service.graph.structure import id_problem
from service.runtime.job_states import ACTIVE_STATES, SUCCEEDED
from service.storage.graph_rows import find_node, graph_by_id, kinds_and_ops, node_rows, node_rows_at
from service.storage.job_reads import stored_inputs
from service.storage.models import Graph, Job
from service.storage.result_blocks import ResultsGone, result_blocks
from service.storage.result_chunks import NodeResults, read_results

from .answers import json_response, node_items
from .body_parser import ApiBlueprint
from .cursors import bad_cursor, decode_cursor, encode_cursor
from .diagram import circuit_layout, render_svg
from .http_schemas import NodeListArgsSchema, NodePageSchema, NodeSchema, ProblemSchema
from .paging import page_limit
from .problems import ApiProblem, invalid, not_found
from .request_context import db, plan_cache, require_key, settings, tenant_job
from .result_formats import SUPPORTED, encoder


class DiagramArgsSchema(Schema):
    item = fields.Integer(
        load_default=0, validate=validate.Range(min=0), metadata={"description": "Which assignment of a batch to draw."}
    )


blp = ApiBlueprint(
    "nodes", __name__, url_prefix="/v1/jobs", description="The value and gradient of every node of a succeeded job."
)
blp.before_request(require_key)


def _finished_job(job_id: Any) -> tuple[Job, Graph]:
    """The caller's succeeded job and its graph. :raise ApiProblem: 404, or 409 while it has no results."""
    job = tenant_job(job_id)
    if job.status != SUCCEEDED:
        detail = f"the job is {job.status}; node results exist once it has succeeded"
        headers = {"Retry-After": "1"} if job.status in ACTIVE_STATES else {}
        raise ApiProblem(409, "Conflict", detail, headers=headers, type_="conflict")
    return job, graph_by_id(db(), job.graph_id)


@blp.route("/<uuid:job_id>/nodes", methods=["GET"])
@blp.arguments(NodeListArgsSchema, location="query", as_kwargs=False)
@blp.response(200, NodePageSchema)
@blp.alt_response(409, schema=ProblemSchema, description="The job has not succeeded.")
def list_nodes(query: dict[str, Any], job_id: Any) -> Response:
    """Nodes in definition order (inputs, constants, gates), or ``order=-abs_grad``: largest |gradient| first."""
    job, graph = _finished_job(job_id)
    limit = min(page_limit(query), _most_nodes(job.batch_size))
    start = decode_cursor(query.get("cursor"), int) or 0
    if start < 0:
        raise bad_cursor()
    if query["order"] == "-abs_grad":
        results, numbers = _ranked(job, graph.n_nodes, start, limit)
        ids, codes = node_rows_at(db(), graph, numbers)
    else:
        stop = min(start + limit, graph.n_nodes)
        if start >= stop:
            return json_response({"items": [], "next_cursor": None})
        ids, codes = node_rows(db(), graph, start, stop)
        results = read_results(db(), job, start, stop)
    end = start + len(ids)
    cursor = encode_cursor(end) if end < graph.n_nodes and ids else None
    items = node_items(ids, kinds_and_ops(codes), results, job.batched)
    return json_response({"items": items, "next_cursor": cursor})


def _most_nodes(batch_size: int) -> int:
    """Nodes in a page within MAX_PAGE_NUMBERS values and gradients (at least one node)."""
    return max(1, settings().max_page_numbers // (2 * batch_size))


def _ranked(job: Job, n_nodes: int, start: int, limit: int) -> tuple[NodeResults, np.ndarray]:
    """Rows ``start`` to ``start + limit`` of the nodes ranked by max |grad| over the batch: results and numbers.

    NaN ranks first; ties go by node index.
    """
    results = read_results(db(), job, 0, n_nodes)
    score = np.abs(results.grads).max(axis=1)
    score[np.isnan(score)] = np.inf
    n, wanted = score.size, min(start + limit, score.size)
    candidates = np.arange(n)
    if 0 < wanted < n:
        threshold = np.partition(score, n - wanted)[n - wanted]
        candidates = np.flatnonzero(score >= threshold)
    ranked = candidates[np.lexsort((candidates, -score[candidates]))][start : start + limit]
    return results.take(ranked), ranked


_RESULTS_DOC = {
    "responses": {
        "200": {
            "description": "Every node, in definition order, streamed in the format asked for by Accept "
            "(NDJSON when Accept is absent or */*). The X-Node-Count header gives the number of nodes.",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
            "headers": {"X-Node-Count": {"schema": {"type": "integer"}, "description": "Nodes in the answer."}},
        }
    }
}


@blp.route("/<uuid:job_id>/results", methods=["GET"])
@blp.doc(**_RESULTS_DOC)
@blp.response(200, description="Every node, streamed.", content_type="application/x-ndjson")
@blp.alt_response(406, schema=ProblemSchema, description="Accept names none of the supported types.")
@blp.alt_response(409, schema=ProblemSchema, description="The job has not succeeded.")
def results(job_id: Any) -> Response:
    """Every node's value and gradient (and tangents) in one streamed answer: Arrow IPC stream, NDJSON or CSV."""
    job, graph = _finished_job(job_id)
    media_type = _accepted_type()
    blocks = result_blocks(db(), graph, job)
    try:  # read before answering: it says whether the job had a direction, and a 404 can still be sent
        first = next(blocks)
    except ResultsGone:
        raise not_found("job") from None
    encode = encoder(media_type, job.batched, job.batch_size, first.results.tangents is not None)
    stream = itertools.chain((first,), blocks)
    del first  # the answer holds one block at a time

    def body() -> Iterator[bytes]:
        for block in stream:
            yield from encode.block(block)
        yield encode.end()

    headers = {"X-Node-Count": str(graph.n_nodes), "Vary": "Accept"}
    return Response(stream_with_context(body()), mimetype=media_type, headers=headers)


def _accepted_type() -> str:
    """The supported type ``Accept`` prefers (NDJSON if it names none in particular). :raise ApiProblem: 406."""
    if not request.headers.get("Accept", "").strip():
        return SUPPORTED[0]
    best = request.accept_mimetypes.best_match(SUPPORTED)
    if best is None:
        detail = f"Accept: {request.headers['Accept'][:200]} names no type of this answer; it can be " + ", ".join(
            SUPPORTED
        )
        raise ApiProblem(406, "Not acceptable", detail, type_="not-acceptable")
    return best


@blp.route("/<uuid:job_id>/nodes/<string:node_id>", methods=["GET"])
@blp.response(200, NodeSchema)
@blp.alt_response(409, schema=ProblemSchema, description="The job has not succeeded.")
def get_node(job_id: Any, node_id: str) -> Response:
    """One node's value and gradient (and tangents)."""
    job, graph = _finished_job(job_id)
    number = None if id_problem(node_id) else find_node(db(), graph, node_id)
    if number is None:
        raise ApiProblem(404, "Not found", f"no node {node_id[:128]!r} in this job's graph", type_="not-found")
    ids, codes = node_rows(db(), graph, number, number + 1)
    results = read_results(db(), job, number, number + 1)
    return json_response(node_items(ids, kinds_and_ops(codes), results, job.batched)[0])


@blp.route("/<uuid:job_id>/diagram.svg", methods=["GET"])
@blp.arguments(DiagramArgsSchema, location="query", as_kwargs=False)
@blp.doc(
    responses={
        "200": {
            "description": "An SVG picture of the circuit.",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        }
    }
)
@blp.response(200, description="An SVG picture of the circuit.", content_type="image/svg+xml")
@blp.alt_response(422, schema=ProblemSchema, description="The graph is larger than DIAGRAM_MAX_NODES.")
@blp.alt_response(409, schema=ProblemSchema, description="The job has not succeeded.")
def diagram(query: dict[str, Any], job_id: Any) -> Response:
    """The circuit with every wire's value (green) and gradient (red), for one batch item (``?item=``)."""
    job, graph = _finished_job(job_id)
    most = settings().diagram_max_nodes
    if graph.n_nodes > most:
        detail = f"the graph has {graph.n_nodes} nodes; diagrams are drawn up to DIAGRAM_MAX_NODES={most}"
        raise ApiProblem(422, "Graph too large to draw", detail, type_="diagram-too-large")
    item = query["item"]
    if item >= job.batch_size:
        raise invalid([Problem("item", f"must be below the batch size {job.batch_size}")], "query string")
    results = read_results(db(), job, 0, graph.n_nodes)
    output_grads = stored_inputs(db(), job.id)[1]
    plan = plan_cache().get(db(), graph.id)
    if plan is None:
        raise not_found("graph")  # deleted since this request read it
    svg = render_svg(circuit_layout(plan, results.values[:, item], results.grads[:, item], output_grads[:, item]))
    return Response(svg, mimetype="image/svg+xml")
