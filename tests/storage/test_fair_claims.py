"""Fair claims, the per-tenant cap and expiry stamps of job rows, on both databases.

A claim takes the job its message was sent for only when that job's tenant has no fewer running
jobs than any other tenant with queued jobs; otherwise the oldest job of the tenant whose turn it is.
"""

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from service.graph import JobInputs
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


def test_a_job_is_inserted_only_while_its_tenant_has_room_under_the_cap(settings, submit):
    jobs = [submit("a") for _ in range(3)]
    other = submit("b")
    assert _claim_next(settings, jobs[0]) == jobs[0]
    with session_factory(settings.database_url)() as session:
        tenant = session.scalar(select(Tenant.id).where(Tenant.name == "a"))
        graph_id = session.scalar(select(Job.graph_id).where(Job.id == jobs[0]))

        def insert(room: int) -> Job | None:
            bound = JobInputs(np.array([[1.0]]), np.array([[1.0]]), False)
            return job_rows.insert_job(session, job_rows.new_job(tenant, graph_id, bound, False, None, None), room)

        assert insert(room=3) is None  # 1 running and 2 queued fill it
        assert insert(room=4) is not None  # now 4 active
        job_rows.cancel(session, jobs[1])
        job_rows.cancel(session, other)  # another tenant's jobs take none of its room
        assert insert(room=4) is not None
        assert insert(room=4) is None
        statuses = session.execute(select(Job.status, func.count()).where(Job.tenant_id == tenant).group_by(Job.status))
        assert dict(statuses.all()) == {"running": 1, "queued": 3, "canceled": 1}


def test_an_ended_job_expires_its_ttl_later_and_a_keyed_one_not_before_a_day(settings, submit):
    plain, keyed, forever = submit("a", ttl=60), submit("a", key="k", ttl=60), submit("a", ttl=None)
    with session_factory(settings.database_url)() as session:
        for job_id in (plain, keyed, forever):
            assert job_rows.cancel(session, job_id) is not None
        rows = {job_id: session.get(Job, job_id) for job_id in (plain, keyed, forever)}
    assert rows[plain].expires_at - rows[plain].finished_at == timedelta(seconds=60)
    assert rows[keyed].expires_at - rows[keyed].created_at == timedelta(hours=24)  # its key lives a day
    assert rows[forever].expires_at is None
