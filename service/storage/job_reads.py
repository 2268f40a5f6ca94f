"""Reading jobs for answers: the caller's job, a page of jobs, a replayed submission, counts by state, a job's numbers.

Every read a request makes is scoped to the caller's tenant: another tenant's job is not found.
The state machine that changes jobs is ``job_rows``; this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session, undefer

from service.graph.gradcheck import GradientCheck

from .graph_rows import output_ids
from .job_blobs import check_from_text, inputs_from_bytes, outputs_from_row
from .keyset import After, newest_first
from .models import Job, Tenant
from .plan_cache import PlanCache

JOBS = Job.__table__

# Built once: ``?wait=`` polls it.
_JOB_ROW = select(*(c for c in JOBS.c if c.name != "inputs")).where(
    JOBS.c.id == bindparam("job_id"), JOBS.c.tenant_id == bindparam("tenant_id")
)
_ANSWER_COLUMNS = (undefer(Job.outputs), undefer(Job.output_values), undefer(Job.gradient_check))


@dataclass(frozen=True)
class Outcome:
    """What a job produced, as numbers: its outputs (id -> values of the batch) and its gradient check."""

    outputs: dict[str, np.ndarray] | None
    gradient_check: GradientCheck | None


def tenant_job(session: Session, tenant_id: int, job_id: str) -> Job | None:
    """The tenant's job (an ORM object, to change), or None (also for another tenant's id)."""
    return session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id).options(*_ANSWER_COLUMNS))


def tenant_job_row(session: Session, tenant_id: int, job_id: str) -> Row | None:
    """The tenant's job as a read-only row, everything but its inputs, in one cheap query; or None."""
    return session.execute(_JOB_ROW, {"job_id": job_id, "tenant_id": tenant_id}).one_or_none()


def job_by_idempotency_key(session: Session, tenant_id: int, key: str) -> Job | None:
    """The tenant's job submitted with this Idempotency-Key, or None."""
    query = select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key).options(*_ANSWER_COLUMNS)
    return session.scalar(query)


def job_page(
    session: Session, tenant_id: int, status: str | None, graph_id: str | None, after: After | None, limit: int
) -> tuple[list[Job], bool]:
    """The tenant's jobs newest first, optionally of one state and one graph; and whether more follow."""
    query = select(Job).where(Job.tenant_id == tenant_id).options(*_ANSWER_COLUMNS)
    if status is not None:
        query = query.where(Job.status == status)
    if graph_id is not None:
        query = query.where(Job.graph_id == graph_id)
    return newest_first(session, query, Job, after, limit)


def job_counts(session: Session) -> dict[str, int]:
    """How many jobs are in each state (states with none are absent)."""
    return dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())


def stored_inputs(session: Session, job_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(input matrix, output gradients, tangents or None) of a job, each (rows, batch_size)."""
    return inputs_from_bytes(session.scalar(select(Job.inputs).where(Job.id == job_id)))


def outcomes(session: Session, jobs: list[Any], plans: PlanCache | None = None) -> list[Outcome]:
    """The outcome of each job (ORM objects or rows), reading the output ids of their graphs at most once."""
    wanted = {job.graph_id for job in jobs if job.output_values is not None}
    ids: dict[str, list[str]] = {}
    for graph_id in list(wanted):
        plan = plans.cached(graph_id) if plans is not None else None
        if plan is not None:
            ids[graph_id] = plan.output_ids
            wanted.discard(graph_id)
    ids.update(output_ids(session, wanted))
    return [
        Outcome(
            outputs_from_row(job.output_values, job.outputs, ids.get(job.graph_id, [])),
            check_from_text(job.gradient_check),
        )
        for job in jobs
    ]


@dataclass(frozen=True)
class TenantUsage:
    """What one tenant keeps in the service: its jobs by state, and the numbers its results hold."""

    tenant: str
    jobs: dict[str, int]
    stored_numbers: int


def tenant_usage(session: Session) -> list[TenantUsage]:
    """Every tenant with jobs, by name: jobs by state and stored values, gradients and tangents."""
    rows = session.execute(
        select(Tenant.name, Job.status, func.count(), func.coalesce(func.sum(Job.stored_numbers), 0))
        .join(Tenant, Tenant.id == Job.tenant_id)
        .group_by(Tenant.name, Job.status)
        .order_by(Tenant.name)
    ).all()
    jobs: dict[str, dict[str, int]] = {}
    numbers: dict[str, int] = {}
    for name, status, count, stored in rows:
        jobs.setdefault(name, {})[status] = count
        numbers[name] = numbers.get(name, 0) + int(stored)
    return [TenantUsage(name, jobs[name], numbers[name]) for name in jobs]


def stored_numbers(session: Session) -> int:
    """Values, gradients and tangents held by every job's results."""
    return int(session.scalar(select(func.coalesce(func.sum(Job.stored_numbers), 0))))
