"""Retention: jobs past their ``expires_at`` deleted with their results, in small transactions.

Each transaction deletes at most CHUNK_ROWS result rows (about 32 MiB of numbers) or one batch
of job rows, so no lock is held long: on SQLite, which has one writer, claims and submissions
wait at most one such statement; on PostgreSQL nothing a client touches is locked (an expired
job's rows are nobody else's). Only ended jobs have an ``expires_at``, so a queued or running
job is never deleted. A job's pending webhook deliveries stay until they are sent or given up
(its event is still owed); its finished ones go with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from service.runtime.job_states import TERMINAL_STATES

from .models import Job, JobChunk, WebhookDelivery, utcnow

CHUNK_ROWS = 128  # result rows (of 16,384 numbers each, and as many gradients) per transaction
JOBS, CHUNKS, DELIVERIES = Job.__table__, JobChunk.__table__, WebhookDelivery.__table__

_DELETE_CHUNKS = delete(CHUNKS).where(CHUNKS.c.job_id == bindparam("job_id"), CHUNKS.c.chunk < bindparam("below"))


def expired(session: Session, now: datetime, limit: int) -> list[str]:
    """Ids of up to ``limit`` ended jobs whose ``expires_at`` has passed, the longest expired first."""
    query = (
        select(JOBS.c.id)
        .where(JOBS.c.expires_at < now, JOBS.c.status.in_(TERMINAL_STATES))
        .order_by(JOBS.c.expires_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_expired(session: Session, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` expired jobs and what they stored, a transaction at a time; how many went."""
    job_ids = expired(session, now, limit)
    for job_id in job_ids:
        _delete_chunks(session, job_id)
    if not job_ids:
        return 0
    session.execute(delete(DELIVERIES).where(DELIVERIES.c.job_id.in_(job_ids), DELIVERIES.c.state != "pending"))
    gone = session.execute(delete(JOBS).where(JOBS.c.id.in_(job_ids), JOBS.c.expires_at < now)).rowcount
    session.commit()
    return gone


def _delete_chunks(session: Session, job_id: str) -> None:
    """The job's result rows, CHUNK_ROWS at a time, each batch committed on its own."""
    last = session.scalar(select(func.max(CHUNKS.c.chunk)).where(CHUNKS.c.job_id == job_id))
    session.commit()
    for below in range(CHUNK_ROWS, (last if last is not None else -1) + CHUNK_ROWS + 1, CHUNK_ROWS):
        session.execute(_DELETE_CHUNKS, {"job_id": job_id, "below": below})
        session.commit()


def stamp_unstamped(session: Session, ttl_seconds: int, limit: int) -> int:
    """Give ended jobs without an ``expires_at`` (they ended before retention existed) one: TTL from now."""
    unstamped = (
        select(JOBS.c.id)
        .where(JOBS.c.expires_at.is_(None), JOBS.c.status.in_(TERMINAL_STATES))
        .limit(limit)
        .scalar_subquery()
    )
    now = utcnow()
    stamped = session.execute(
        update(JOBS)
        .where(JOBS.c.id.in_(unstamped))
        .values(ttl_seconds=ttl_seconds, expires_at=now + timedelta(seconds=ttl_seconds))
    ).rowcount
    session.commit()
    return stamped
