"""What a request works with: settings, its database session, its caller, and the caller's graphs and jobs."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from sqlalchemy import Row
from sqlalchemy.orm import Session

from service.runtime.config import Settings
from service.storage import graph_rows, job_reads
from service.storage.database import session_factory
from service.storage.keys import Caller
from service.storage.models import Graph, Job
from service.storage.plan_cache import PlanCache

from .auth import authenticate
from .problems import not_found


def settings() -> Settings:
    return current_app.config["GATEGRAPH"]


def extension(name: str) -> Any:
    return current_app.extensions["gategraph"][name]


def plan_cache() -> PlanCache:
    return extension("plans")


def db() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = session_factory(settings().database_url)()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def require_key() -> None:
    """before_request of every /v1 blueprint. :raise ApiProblem: 401."""
    g.caller = authenticate(db(), request.headers.get("Authorization"))


def caller() -> Caller:
    return g.caller


def tenant_graph(graph_id: Any) -> Graph:
    """The caller's graph. :raise ApiProblem: 404, also for another tenant's id."""
    graph = graph_rows.tenant_graph(db(), caller().tenant_id, str(graph_id))
    if graph is None:
        raise not_found("graph")
    return graph


def tenant_graph_id(graph_id: Any) -> str:
    """The id of the caller's graph, checked with one cheap query (for submissions). :raise ApiProblem: 404."""
    found = graph_rows.tenant_graph_id(db(), caller().tenant_id, str(graph_id))
    if found is None:
        raise not_found("graph")
    return found


def tenant_job(job_id: Any) -> Job:
    """The caller's job. :raise ApiProblem: 404, also for another tenant's id."""
    job = job_reads.tenant_job(db(), caller().tenant_id, str(job_id))
    if job is None:
        raise not_found("job")
    return job


def tenant_job_row(job_id: Any) -> Row:
    """The caller's job as a read-only row (one cheap query: polled by ``?wait=``). :raise ApiProblem: 404."""
    row = job_reads.tenant_job_row(db(), caller().tenant_id, str(job_id))
    if row is None:
        raise not_found("job")
    return row
