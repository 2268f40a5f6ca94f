"""/v1/graphs: store a validated, compiled graph; list, read and delete the caller's graphs."""

from __future__ import annotations

from typing import Any

from flask import Response

from service.graph import Plan
from service.graph.plan import plan_to_definition
from service.storage.graph_rows import delete_graph, graph_page, load_plan, save_graph

from .answers import graph_body, json_response
from .body_parser import ApiBlueprint
from .http_schemas import GraphBodySchema, GraphPageSchema, GraphSchema, PageArgsSchema, ProblemSchema
from .paging import after_cursor, page_body, page_limit
from .request_context import caller, db, require_key, tenant_graph

blp = ApiBlueprint(
    "graphs", __name__, url_prefix="/v1/graphs", description="Graph definitions, validated and compiled once."
)
blp.before_request(require_key)


@blp.route("", methods=["POST"])
@blp.arguments(GraphBodySchema, as_kwargs=False)
@blp.response(201, GraphSchema, description="Stored; Location names it.")
@blp.alt_response(422, schema=ProblemSchema, description="An invalid definition: every problem, each with its path.")
def create_graph(plan: Plan) -> Response:
    """Validate, compile and store a graph definition."""
    graph = save_graph(db(), caller().tenant_id, plan)
    db().commit()
    return json_response(graph_body(graph), 201, {"Location": f"/v1/graphs/{graph.id}"})


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, GraphPageSchema)
def list_graphs(query: dict[str, Any]) -> Response:
    """The caller's graphs, newest first."""
    limit = page_limit(query)
    graphs, more = graph_page(db(), caller().tenant_id, after_cursor(query), limit)
    return json_response(page_body(graphs, more, lambda rows: [graph_body(g) for g in rows]))


@blp.route("/<uuid:graph_id>", methods=["GET"])
@blp.response(200, GraphSchema)
def get_graph(graph_id: Any) -> Response:
    """One graph, with its normalised definition."""
    graph = tenant_graph(graph_id)
    return json_response(graph_body(graph, plan_to_definition(load_plan(db(), graph))))


@blp.route("/<uuid:graph_id>", methods=["DELETE"])
@blp.response(204)
def remove_graph(graph_id: Any) -> Response:
    """Delete a graph, with its jobs and their results."""
    graph = tenant_graph(graph_id)
    delete_graph(db(), graph.id)
    db().commit()
    return Response(status=204)
