"""What a request works with: settings, its database session, its caller, and tenant-scoped lookups."""
from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from service.config import Settings
from service.storage.database import session_factory
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


def tenant_job(job_id: Any, with_results: bool = False) -> Job:
    """The caller's job (``with_results``: with its outputs, in the same read). :raise ApiProblem: 404, also for another tenant's id."""
    query = select(Job).where(Job.id == str(job_id), Job.tenant_id == caller().tenant_id)
    if with_results:
        query = query.options(undefer(Job.outputs), undefer(Job.gradient_check))
    job = db().scalar(query)
    if job is None:
        raise not_found("job")
    return job
