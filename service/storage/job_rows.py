"""Job rows and their state machine: queued -> running -> succeeded | failed | canceled.

Every transition is a compare-and-set ``UPDATE ... WHERE status = ...``, so a message
delivered twice, a worker that comes back from the dead, or a cancel racing a finish
cannot move a job twice. A running job carries its attempt number as a fencing token:
only the attempt that claimed it may finish it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from service.graph import Evaluation, JobInputs
from service.graph.gradcheck import GradientCheck
from service.runtime.job_states import ACTIVE_STATES, CANCELED, FAILED, QUEUED, RUNNING, SUCCEEDED, end_event

from .job_blobs import check_to_text, inputs_to_bytes, outputs_to_bytes
from .models import Job, utcnow
from .result_chunks import write_results
from .webhook_rows import queue_deliveries

JOBS = Job.__table__


def _param(column: str, name: str | None = None):
    """A parameter typed like a column (an untyped datetime would be stored in another text format by SQLite).

    Named ``new_<column>`` by default: SQLAlchemy keeps a column's own name for its SET clause.
    """
    return bindparam(name or f"new_{column}", type_=JOBS.c[column].type)


# The statements of a job's life are built once: building and hashing a statement costs more
# CPU than running it, and a small job runs several of them.
_CLAIM = (
    update(JOBS)
    .where(
        JOBS.c.id == bindparam("job_id"),
        or_(JOBS.c.status == QUEUED, and_(JOBS.c.status == RUNNING, JOBS.c.heartbeat_at < bindparam("stale_before"))),
    )
    .values(
        status=RUNNING,
        attempts=JOBS.c.attempts + 1,
        started_at=_param("started_at", "now"),
        heartbeat_at=_param("heartbeat_at", "now"),
        stage="loading",
        progress=0.0,
    )
    .returning(JOBS.c.attempts, JOBS.c.graph_id, JOBS.c.batched, JOBS.c.check_gradients, JOBS.c.inputs)
)
_OURS = and_(JOBS.c.id == bindparam("job_id"), JOBS.c.status == RUNNING, JOBS.c.attempts == bindparam("attempt"))
_SUCCEED = (
    update(JOBS)
    .where(_OURS)
    .values(
        status=SUCCEEDED,
        output_values=_param("output_values"),
        gradient_check=_param("gradient_check"),
        chunk_nodes=_param("chunk_nodes"),
        finished_at=_param("finished_at"),
        stage=None,
        progress=1.0,
    )
)
_CLEAR_SENT = update(JOBS).where(JOBS.c.id == bindparam("job_id"), JOBS.c.status == QUEUED).values(enqueued_at=None)
_INSERT = insert(JOBS)

Executor = Connection | Session  # these functions run on either; each commits its own change


@dataclass(frozen=True)
class Ended:
    """This call ended the job. ``deliveries``: the callbacks its end queued, to send once committed."""

    deliveries: list[str]


def new_job(
    tenant_id: int,
    graph_id: str,
    bound: JobInputs,
    check_gradients: bool,
    idempotency_key: str | None,
    request_hash: str | None,
) -> dict[str, Any]:
    """The values of a queued job row (the caller inserts them with ``insert_job``, then enqueues it)."""
    now = utcnow()
    return dict(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        graph_id=graph_id,
        status=QUEUED,
        batch_size=bound.batch_size,
        batched=bound.batched,
        check_gradients=check_gradients,
        inputs=inputs_to_bytes(bound),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        attempts=0,
        created_at=now,
        enqueued_at=now,  # the caller sends the message right after commit, or calls clear_sent
    )


def insert_job(executor: Executor, values: dict[str, Any]) -> Job:
    """Insert and commit a new job; return it as a Job (not attached to any session), to answer with.

    :raise IntegrityError: the tenant already has a job with this Idempotency-Key.
    """
    executor.execute(_INSERT, values)
    executor.commit()
    return Job(**values, outputs=None, output_values=None, gradient_check=None)


def mark_sent(session: Session, job_id: str, unless_sent_after: datetime | None = None) -> bool:
    """Record that a message for a queued job is on its way; False if another sender got there first."""
    sent_long_ago = Job.enqueued_at.is_(None)
    if unless_sent_after is not None:
        sent_long_ago = or_(sent_long_ago, Job.enqueued_at < unless_sent_after)
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == QUEUED, sent_long_ago).values(enqueued_at=utcnow())
    )
    session.commit()
    return result.rowcount == 1


def clear_sent(executor: Executor, job_id: str) -> None:
    """The message could not be sent: leave the job for the sweeper to send."""
    executor.execute(_CLEAR_SENT, {"job_id": job_id})
    executor.commit()


@dataclass(frozen=True)
class Claim:
    """What a worker needs of the job it just claimed, read by the claim itself."""

    attempt: int
    graph_id: str
    batched: bool
    check_gradients: bool
    inputs: bytes


def claim(executor: Executor, job_id: str, stale_before: datetime, commit: bool = True) -> Claim | None:
    """Take a queued job (or a running one whose worker stopped beating), in one statement.

    ``commit=False`` leaves the transaction open, holding the row: the caller may finish the
    job in the same transaction (``succeed``), and if it dies meanwhile the claim never happened.
    """
    row = executor.execute(_CLAIM, {"job_id": job_id, "stale_before": stale_before, "now": utcnow()}).one_or_none()
    if commit or row is None:
        executor.commit()
    return Claim(*row) if row is not None else None


def beat(session: Session, job_id: str, attempt: int, stage: str | None = None, progress: float | None = None) -> bool:
    """Heartbeat (and stage); False when the job is no longer this attempt's (canceled, deleted, taken over)."""
    values: dict = {"heartbeat_at": utcnow()}
    if stage is not None:
        values.update(stage=stage, progress=progress)
    result = session.execute(update(JOBS).where(_OURS).values(**values), {"job_id": job_id, "attempt": attempt})
    session.commit()
    return result.rowcount == 1


def succeed(
    executor: Executor,
    job_id: str,
    attempt: int,
    output_values: np.ndarray,
    gradient_check: GradientCheck | None,
    result: Evaluation,
    chunk_nodes: int,
) -> Ended | None:
    """Store the results and mark the job succeeded, in one transaction; None if it is no longer ours.

    ``output_values``: the outputs' rows of ``result.values``, kept on the job row for its answers.
    The results go first, so that ``finished_at`` is stamped when they are in; if the job was
    canceled, deleted or taken over meanwhile, the fenced update matches nothing and all is undone.
    """
    write_results(executor, job_id, result, chunk_nodes)
    params = {
        "job_id": job_id,
        "attempt": attempt,
        "new_output_values": outputs_to_bytes(output_values),
        "new_gradient_check": check_to_text(gradient_check),
        "new_chunk_nodes": chunk_nodes,
        "new_finished_at": utcnow(),
    }
    if executor.execute(_SUCCEED, params).rowcount != 1:
        executor.rollback()
        return None
    ended = Ended(queue_deliveries(executor, job_id, end_event(SUCCEEDED)))
    executor.commit()
    return ended


def fail(session: Session, job_id: str, code: str, message: str, attempt: int | None = None) -> Ended | None:
    """Mark an active job failed with a reason (only the given attempt's, when one is given); None if it was not."""
    where = _OURS if attempt is not None else and_(JOBS.c.id == bindparam("job_id"), JOBS.c.status.in_(ACTIVE_STATES))
    result = session.execute(
        update(JOBS)
        .where(where)
        .values(status=FAILED, error_code=code, error_message=message, finished_at=utcnow(), stage=None),
        {"job_id": job_id, "attempt": attempt},
    )
    return _ended(session, result.rowcount, job_id, FAILED)


def _ended(session: Session, rowcount: int, job_id: str, status: str) -> Ended | None:
    """Queue the callbacks of a job that this transaction ended (``rowcount`` 1), and commit."""
    ended = Ended(queue_deliveries(session, job_id, end_event(status))) if rowcount == 1 else None
    session.commit()
    return ended


def running_attempt(session: Session, job_id: str) -> int | None:
    """The attempt number of a running job (None if it is not running)."""
    return session.scalar(select(Job.attempts).where(Job.id == job_id, Job.status == RUNNING))


def cancel(session: Session, job_id: str) -> Ended | None:
    """Cancel a job that has not ended; None if it had."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE_STATES))
        .values(status=CANCELED, finished_at=utcnow(), stage=None)
    )
    return _ended(session, result.rowcount, job_id, CANCELED)


def delete_job(session: Session, job_id: str) -> None:
    """Delete and commit a job; its result chunks go with it (ON DELETE CASCADE).

    A running attempt can no longer store: its fenced update matches nothing.
    """
    session.execute(delete(JOBS).where(JOBS.c.id == job_id))
    session.commit()


def requeue_abandoned(
    session: Session, stale_before: datetime, max_attempts: int
) -> tuple[list[str], list[str], list[str]]:
    """Running jobs whose worker stopped beating: queue them again, or fail them after too many attempts.

    Returns (requeued ids, failed ids, the callbacks the failures queued).
    """
    abandoned = session.execute(
        select(Job.id, Job.attempts).where(Job.status == RUNNING, Job.heartbeat_at < stale_before).limit(1000)
    ).all()
    requeued, failed, deliveries = [], [], []
    for job_id, attempts in abandoned:
        still_abandoned = and_(
            Job.id == job_id, Job.status == RUNNING, Job.attempts == attempts, Job.heartbeat_at < stale_before
        )
        if attempts >= max_attempts:
            values = dict(
                status=FAILED,
                error_code="worker_lost",
                finished_at=utcnow(),
                stage=None,
                error_message=f"the worker running this job stopped {attempts} times "
                "(killed, out of memory, or over the time limit)",
            )
        else:
            values = dict(status=QUEUED, enqueued_at=None, stage=None)
        if session.execute(update(Job).where(still_abandoned).values(**values)).rowcount != 1:
            continue
        if attempts >= max_attempts:
            failed.append(job_id)
            deliveries += queue_deliveries(session, job_id, end_event(FAILED))
        else:
            requeued.append(job_id)
    session.commit()
    return requeued, failed, deliveries


def unsent(session: Session, created_before: datetime, sent_before: datetime | None) -> list[str]:
    """Queued jobs with no message on its way: never sent, or (if ``sent_before``) sent before then."""
    never = Job.enqueued_at.is_(None) & (Job.created_at < created_before)
    lost = or_(never, Job.enqueued_at < sent_before) if sent_before is not None else never
    return list(session.scalars(select(Job.id).where(Job.status == QUEUED, lost).order_by(Job.created_at).limit(1000)))


def seconds_ago(seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=seconds)
