"""Job rows and their state machine: queued -> running -> succeeded | failed | canceled.

Every transition is a compare-and-set ``UPDATE ... WHERE status = ...``, so a message
delivered twice, a worker that comes back from the dead, or a cancel racing a finish
cannot move a job twice. A running job carries its attempt number as a fencing token:
only the attempt that claimed it may finish it.

Claims are fair across tenants (SPEC.md "Sharing the service fairly"): a job message names the
job it was sent for, but a worker takes that job only if its tenant's turn has come (no tenant
with queued jobs has fewer running); otherwise it takes the oldest queued job of the tenant whose
turn it is. Messages are thus interchangeable "run the next job" tokens, one per queued job, and
a tenant's backlog in the broker's first-in-first-out queue never holds another tenant back.
Every transition to an end stamps ``expires_at``, when retention deletes the job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from service.graph import Evaluation, JobInputs
from service.graph.gradcheck import GradientCheck
from service.runtime.job_states import ACTIVE_STATES, CANCELED, FAILED, QUEUED, RUNNING, SUCCEEDED, end_event
from service.runtime.times import utc

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


KEYS_KEPT = timedelta(hours=24)  # SPEC.md: Idempotency-Keys are remembered at least this long

# The statements of a job's life are built once: building and hashing a statement costs more
# CPU than running it, and a small job runs several of them.
_TAKE = dict(
    status=RUNNING,
    attempts=JOBS.c.attempts + 1,
    started_at=_param("started_at", "now"),
    heartbeat_at=_param("heartbeat_at", "now"),
    claimed_by=_param("claimed_by", "task"),
    stage="loading",
    progress=0.0,
)
_CLAIMED = (
    JOBS.c.id,
    JOBS.c.attempts,
    JOBS.c.graph_id,
    JOBS.c.batched,
    JOBS.c.check_gradients,
    JOBS.c.inputs,
    JOBS.c.ttl_seconds,
    JOBS.c.created_at,
    JOBS.c.idempotency_key,
)
_STALE = and_(JOBS.c.status == RUNNING, JOBS.c.heartbeat_at < bindparam("stale_before"))
_CLAIMABLE = or_(JOBS.c.status == QUEUED, _STALE)
_CLAIM = update(JOBS).where(JOBS.c.id == bindparam("job_id"), _CLAIMABLE).values(**_TAKE).returning(*_CLAIMED)
_waiting, _busy = JOBS.alias("waiting"), JOBS.alias("busy")


def _running_of(tenant_id: Any) -> Any:
    """How many jobs the tenant runs, as a scalar subquery correlated to ``tenant_id``'s table."""
    return select(func.count()).where(_busy.c.status == RUNNING, _busy.c.tenant_id == tenant_id).scalar_subquery()


_RUNNING_OF_TENANT = _running_of(_waiting.c.tenant_id)
# Tenants with queued jobs, whose turn first: fewest running, then the longest waiting.
_TURNS = (
    select(_waiting.c.tenant_id, _RUNNING_OF_TENANT.label("running"))
    .where(_waiting.c.status == QUEUED)
    .group_by(_waiting.c.tenant_id)
    .order_by(_RUNNING_OF_TENANT, func.min(_waiting.c.created_at))
)
# The sent-for job, if its tenant's turn has come or it is running on a dead worker, and if no
# other claim holds it: a claim in progress elsewhere is skipped, not waited for. Its tenant's turn
# has come when no other tenant with queued jobs runs fewer. That is worked out inside the claim,
# so that a tenant alone on the service claims in one statement, as before fair sharing; and as
# NOT EXISTS, which stops at the first such tenant and reads only other tenants' index ranges
# (a queue's index holds many dead entries between vacuums: scanning them all costs more).
_RUNNING_OF_SENT_FOR = _running_of(JOBS.c.tenant_id)
_OTHER_QUEUED = and_(_waiting.c.status == QUEUED, _RUNNING_OF_TENANT < _RUNNING_OF_SENT_FOR)
_FEWER_RUNNING_ELSEWHERE = or_(
    select(_waiting.c.id).where(_OTHER_QUEUED, _waiting.c.tenant_id < JOBS.c.tenant_id).exists(),
    select(_waiting.c.id).where(_OTHER_QUEUED, _waiting.c.tenant_id > JOBS.c.tenant_id).exists(),
)
_IN_TURN = or_(
    and_(JOBS.c.status == QUEUED, or_(_RUNNING_OF_SENT_FOR == 0, ~_FEWER_RUNNING_ELSEWHERE)),
    _STALE,
)
_SENT_FOR_IN_TURN = (
    select(JOBS.c.id).where(JOBS.c.id == bindparam("job_id"), _IN_TURN).with_for_update(skip_locked=True)
).scalar_subquery()
# The subquery locked the row and checked its turn; the update checks again only that no other
# claim took it in between (a turn is a moment's ranking, not a lock).
_CLAIM_IN_TURN = update(JOBS).where(JOBS.c.id == _SENT_FOR_IN_TURN, _CLAIMABLE).values(**_TAKE).returning(*_CLAIMED)
# The oldest queued job of a tenant that no other claim holds (SKIP LOCKED; SQLite has one writer).
_OLDEST_OF_TENANT = (
    select(JOBS.c.id)
    .where(JOBS.c.status == QUEUED, JOBS.c.tenant_id == bindparam("in_turn"))
    .order_by(JOBS.c.created_at, JOBS.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM_OLDEST = (
    update(JOBS).where(JOBS.c.id == _OLDEST_OF_TENANT, JOBS.c.status == QUEUED).values(**_TAKE).returning(*_CLAIMED)
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
        expires_at=_param("expires_at"),
        stored_numbers=_param("stored_numbers"),
        stage=None,
        progress=1.0,
    )
)
_ENDED_ROW = (JOBS.c.id, JOBS.c.ttl_seconds, JOBS.c.created_at, JOBS.c.idempotency_key)
_STAMP_EXPIRY = update(JOBS).where(JOBS.c.id == bindparam("job_id")).values(expires_at=_param("expires_at"))
_CLEAR_SENT = update(JOBS).where(JOBS.c.id == bindparam("job_id"), JOBS.c.status == QUEUED).values(enqueued_at=None)
# The columns of a new job (``new_job``), inserted only while its tenant has room under the cap
# (MAX_QUEUED_PER_TENANT): checked by the insert itself, not by a query before it, which would
# cost every submission a statement more. Concurrent submissions may pass the cap by a few.
_NEW_COLUMNS = (
    "id",
    "tenant_id",
    "graph_id",
    "status",
    "batch_size",
    "batched",
    "check_gradients",
    "inputs",
    "idempotency_key",
    "request_hash",
    "attempts",
    "ttl_seconds",
    "created_at",
    "enqueued_at",
)
_ACTIVE_OF_TENANT = (
    select(JOBS.c.id)
    .where(JOBS.c.status.in_(ACTIVE_STATES), JOBS.c.tenant_id == bindparam("tenant_id"))
    .limit(bindparam("room"))  # no need to count past the cap
    .subquery()
)
_INSERT_IF_ROOM = (
    insert(JOBS)
    .from_select(
        _NEW_COLUMNS,
        select(*(bindparam(name, type_=JOBS.c[name].type) for name in _NEW_COLUMNS)).where(
            select(func.count()).select_from(_ACTIVE_OF_TENANT).scalar_subquery() < bindparam("room")
        ),
    )
    .returning(JOBS.c.id)  # whether it was inserted: a Session's rowcount of an INSERT ... SELECT is -1 on psycopg
)

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
    ttl_seconds: int | None = None,
) -> dict[str, Any]:
    """The values of a queued job row (the caller inserts them with ``insert_job``, then enqueues it).

    ``ttl_seconds``: how long the job is kept once it ended (None: retention gives it JOB_TTL once it ended).
    """
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
        ttl_seconds=ttl_seconds,
        created_at=now,
        enqueued_at=now,  # the caller sends the message right after commit, or calls clear_sent
    )


def insert_job(executor: Executor, values: dict[str, Any], room: int) -> Job | None:
    """Insert and commit a new job; return it as a Job (not attached to any session), to answer with.

    None, with the transaction rolled back, when the tenant already has ``room`` jobs queued or running.
    :raise IntegrityError: the tenant already has a job with this Idempotency-Key.
    """
    if executor.execute(_INSERT_IF_ROOM, {**values, "room": room}).first() is None:
        executor.rollback()
        return None
    executor.commit()
    return Job(**values, outputs=None, output_values=None, gradient_check=None, expires_at=None)


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


def expiry(
    finished_at: datetime, ttl_seconds: int | None, created_at: datetime, idempotency_key: str | None
) -> datetime | None:
    """When a job that ended at ``finished_at`` is deleted: its TTL later, never before its key's 24 hours are up.

    None for a job without a TTL (from before retention existed): retention stamps those itself.
    """
    if ttl_seconds is None:
        return None
    expires_at = finished_at + timedelta(seconds=ttl_seconds)
    if idempotency_key is not None:
        expires_at = max(expires_at, utc(created_at) + KEYS_KEPT)
    return expires_at


@dataclass(frozen=True)
class Claim:
    """What a worker needs of the job it just claimed, read by the claim itself."""

    job_id: str
    attempt: int
    graph_id: str
    batched: bool
    check_gradients: bool
    inputs: bytes
    ttl_seconds: int | None
    created_at: datetime
    idempotency_key: str | None

    def expires_at(self, finished_at: datetime) -> datetime | None:
        return expiry(finished_at, self.ttl_seconds, self.created_at, self.idempotency_key)


def claim(
    executor: Executor, job_id: str, stale_before: datetime, commit: bool = True, task: str | None = None
) -> Claim | None:
    """Take this queued job (or this running one whose worker stopped beating), in one statement.

    ``commit=False`` leaves the transaction open, holding the row: the caller may finish the
    job in the same transaction (``succeed``), and if it dies meanwhile the claim never happened.
    ``task``: the Celery task claiming it (``running_claimed_by`` finds the job by it).
    """
    params = {"job_id": job_id, "stale_before": stale_before, "now": utcnow(), "task": task}
    return _claimed(executor, executor.execute(_CLAIM, params).one_or_none(), commit)


def claim_next(
    executor: Executor, sent_for: str, stale_before: datetime, commit: bool = True, task: str | None = None
) -> Claim | None:
    """Take the job ``sent_for`` if its tenant's turn has come, else the oldest job of the tenant whose turn it is.

    None when nothing is left to run. ``commit`` and ``task`` as for ``claim``.
    """
    now = utcnow()
    params = {"job_id": sent_for, "stale_before": stale_before, "now": now, "task": task}
    row = executor.execute(_CLAIM_IN_TURN, params).one_or_none()
    for tenant, _running in executor.execute(_TURNS).all() if row is None else ():
        row = executor.execute(_CLAIM_OLDEST, {"in_turn": tenant, "now": now, "task": task}).one_or_none()
        if row is not None:
            break
    return _claimed(executor, row, commit)


def _claimed(executor: Executor, row: Any, commit: bool) -> Claim | None:
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
    claimed: Claim,
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
    job_id = claimed.job_id
    write_results(executor, job_id, result, chunk_nodes)
    finished_at = utcnow()
    params = {
        "job_id": job_id,
        "attempt": claimed.attempt,
        "new_output_values": outputs_to_bytes(output_values),
        "new_gradient_check": check_to_text(gradient_check),
        "new_chunk_nodes": chunk_nodes,
        "new_finished_at": finished_at,
        "new_expires_at": claimed.expires_at(finished_at),
        "new_stored_numbers": result.values.size * (2 if result.tangents is None else 4),
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
    finished_at = utcnow()
    result = session.execute(
        update(JOBS)
        .where(where)
        .values(status=FAILED, error_code=code, error_message=message, finished_at=finished_at, stage=None)
        .returning(*_ENDED_ROW),
        {"job_id": job_id, "attempt": attempt},
    )
    return _ended(session, result.one_or_none(), finished_at, FAILED)


def _ended(session: Session, row: Any, finished_at: datetime, status: str) -> Ended | None:
    """Stamp the expiry of the job this transaction ended (``row``: its ``_ENDED_ROW``), queue its callbacks; commit."""
    ended = None
    if row is not None:
        _stamp_expiry(session, row, finished_at)
        ended = Ended(queue_deliveries(session, row.id, end_event(status)))
    session.commit()
    return ended


def _stamp_expiry(session: Session, row: Any, finished_at: datetime) -> None:
    expires_at = expiry(finished_at, row.ttl_seconds, row.created_at, row.idempotency_key)
    if expires_at is not None:
        session.execute(_STAMP_EXPIRY, {"job_id": row.id, "new_expires_at": expires_at})


def running_claimed_by(session: Session, task: str) -> tuple[str, int] | None:
    """(job id, attempt) of the running job the Celery task ``task`` claimed last; None if none is running."""
    query = (
        select(Job.id, Job.attempts)
        .where(Job.claimed_by == task, Job.status == RUNNING)
        .order_by(Job.started_at.desc())
        .limit(1)
    )
    row = session.execute(query).one_or_none()
    return (row.id, row.attempts) if row is not None else None


def cancel(session: Session, job_id: str) -> Ended | None:
    """Cancel a job that has not ended; None if it had."""
    finished_at = utcnow()
    result = session.execute(
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.status.in_(ACTIVE_STATES))
        .values(status=CANCELED, finished_at=finished_at, stage=None)
        .returning(*_ENDED_ROW)
    )
    return _ended(session, result.one_or_none(), finished_at, CANCELED)


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
        select(Job.id, Job.attempts, Job.ttl_seconds, Job.created_at, Job.idempotency_key)
        .where(Job.status == RUNNING, Job.heartbeat_at < stale_before)
        .limit(1000)
    ).all()
    requeued, failed, deliveries = [], [], []
    for row in abandoned:
        job_id, attempts = row.id, row.attempts
        still_abandoned = and_(
            Job.id == job_id, Job.status == RUNNING, Job.attempts == attempts, Job.heartbeat_at < stale_before
        )
        finished_at = utcnow()
        if attempts >= max_attempts:
            values = dict(
                status=FAILED,
                error_code="worker_lost",
                finished_at=finished_at,
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
            _stamp_expiry(session, row, finished_at)
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
