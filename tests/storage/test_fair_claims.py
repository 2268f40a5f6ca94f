"""Fair claims, the per-tenant count and expiry stamps of job rows, on both databases.

A claim takes the job its message was sent for only when that job's tenant has no fewer running
jobs than any other tenant with queued jobs; otherwise the oldest job of the tenant whose turn it is.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.storage import job_rows
from service.storage.database import get_engine, session_factory
from service.storage.models import Job, Tenant

STALE = job_rows.seconds_ago(60)


def _claim_next(settings, sent_for: str) -> str | None:
    with get_engine(settings.database_url).connect() as connection:
        claimed = job_rows.claim_next(connection, sent_for, STALE, task="t")
    return claimed.job_id if claimed else None


def test_the_job_sent_for_runs_while_its_tenant_is_alone(settings, submit):
    first, second = submit("a"), submit("a")
    assert _claim_next(settings, second) == second  # not the oldest: the one it was sent for
    assert _claim_next(settings, first) == first
    assert _claim_next(settings, first) is None  # nothing left


def test_a_tenant_with_fewer_running_jobs_goes_first(settings, submit):
    a_jobs = [submit("a") for _ in range(4)]
    assert _claim_next(settings, a_jobs[0]) == a_jobs[0]  # a: 1 running
    b_first, b_second = submit("b"), submit("b")
    assert _claim_next(settings, a_jobs[1]) == b_first  # b has none running: its oldest
    # 1 running each: a tie, so the job sent for runs
    assert _claim_next(settings, a_jobs[1]) == a_jobs[1]
    assert _claim_next(settings, a_jobs[2]) == b_second  # a has 2, b has 1
    assert _claim_next(settings, b_second) == a_jobs[2]  # b's job has run: the next in turn, a's oldest
    assert _claim_next(settings, a_jobs[3]) == a_jobs[3]


def test_a_job_another_claim_holds_is_skipped(settings, submit):
    if settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: a second claim waits for the first to commit, it cannot skip")
    held, free = submit("a"), submit("a")
    with get_engine(settings.database_url).connect() as holder:
        assert job_rows.claim_next(holder, held, STALE, commit=False).job_id == held  # row locked, not committed
        assert _claim_next(settings, held) == free
        holder.rollback()
    assert _claim_next(settings, free) == held  # back to queued when the holder rolled back


def test_active_jobs_are_counted_up_to_the_cap(settings, submit):
    jobs = [submit("a") for _ in range(3)]
    submit("b")
    assert _claim_next(settings, jobs[0]) == jobs[0]
    with session_factory(settings.database_url)() as session:
        tenant = session.scalar(select(Tenant.id).where(Tenant.name == "a"))
        assert job_rows.active_jobs(session, tenant, 10) == 3  # 1 running, 2 queued
        assert job_rows.active_jobs(session, tenant, 2) == 2
        job_rows.cancel(session, jobs[1])
        assert job_rows.active_jobs(session, tenant, 10) == 2


def test_an_ended_job_expires_its_ttl_later_and_a_keyed_one_not_before_a_day(settings, submit):
    plain, keyed, forever = submit("a", ttl=60), submit("a", key="k", ttl=60), submit("a", ttl=None)
    with session_factory(settings.database_url)() as session:
        for job_id in (plain, keyed, forever):
            assert job_rows.cancel(session, job_id) is not None
        rows = {job_id: session.get(Job, job_id) for job_id in (plain, keyed, forever)}
    assert rows[plain].expires_at - rows[plain].finished_at == timedelta(seconds=60)
    assert rows[keyed].expires_at - rows[keyed].created_at == timedelta(hours=24)  # its key lives a day
    assert rows[forever].expires_at is None
