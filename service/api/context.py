"""What a request works with: settings, its database session, its caller, and tenant-scoped lookups."""
from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.storage.database import session_factory
from service.storage.jobs import JOBS
from service.storage.models import Graph, Job
from service.storage.plan_cache import PlanCache

from .auth import Caller, authenticate
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
    graph = db().scalar(select(Graph).where(Graph.id == str(graph_id), Graph.tenant_id == caller().tenant_id))
    if graph is None:
        raise not_found("graph")
    return graph


_GRAPH_ID = select(Graph.id).where(Graph.id == bindparam("graph_id"), Graph.tenant_id == bindparam("tenant_id"))


def tenant_graph_id(graph_id: Any) -> str:
    """The id of the caller's graph, checked with one cheap query (for submissions). :raise ApiProblem: 404."""
    found = db().execute(_GRAPH_ID, {"graph_id": str(graph_id), "tenant_id": caller().tenant_id}).scalar()
    if found is None:
        raise not_found("graph")
    return found


def tenant_job(job_id: Any) -> Job:
    """The caller's job. :raise ApiProblem: 404, also for another tenant's id."""
    job = db().scalar(select(Job).where(Job.id == str(job_id), Job.tenant_id == caller().tenant_id))
    if job is None:
        raise not_found("job")
    return job


_JOB_ROW = select(*(c for c in JOBS.c if c.name != "inputs")).where(JOBS.c.id == bindparam("job_id"), JOBS.c.tenant_id == bindparam("tenant_id"))


def tenant_job_row(job_id: Any) -> Row:
    """The caller's job as a read-only row with its outputs (one cheap query: polled by ``?wait=``). :raise ApiProblem: 404."""
    row = db().execute(_JOB_ROW, {"job_id": str(job_id), "tenant_id": caller().tenant_id}).one_or_none()
    if row is None:
        raise not_found("job")
    return row
