"""Fair claims, the per-tenant cap and expiry stamps of job rows, on both databases.

A claim takes the job its message was sent for only when that job's tenant has no fewer running
jobs than any other tenant with queued jobs; otherwise the oldest job of the tenant whose turn it is.
"""

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import event, func, insert, select, text

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


def test_a_job_in_turn_beside_other_tenants_is_claimed_in_one_statement(settings, submit):
    """The turn is worked out inside the claim; the query of all turns runs only for a job out of turn."""
    a_running, a_queued, b_running, b_queued = submit("a"), submit("a"), submit("b"), submit("b")
    assert _claim_next(settings, a_running) == a_running
    assert _claim_next(settings, b_running) == b_running
    statements: list[str] = []
    engine = get_engine(settings.database_url)
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert _claim_next(settings, a_queued) == a_queued  # 1 running each: a tie, so it runs
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert [s.split()[0] for s in statements] == ["UPDATE"], statements
    assert _claim_next(settings, a_queued) == b_queued


def _plans(connection, run) -> list[str]:
    """The plans PostgreSQL made for the statements of ``run(connection)``, as auto_explain reports them."""
    notices: list[str] = []
    connection.connection.dbapi_connection.add_notice_handler(
        lambda diagnostic: notices.append(diagnostic.message_primary)
    )
    for setting in ("log_min_duration = 0", "log_level = notice"):
        connection.execute(text(f"SET auto_explain.{setting}"))
    connection.commit()  # a SET is undone with its transaction
    run(connection)
    return notices


def test_the_cap_and_the_turns_read_active_jobs_only_not_a_tenants_history(settings, submit):
    """Beside 500 ended jobs, the cap's count and the turns read the index of active jobs alone.

    In prepared statements' generic plans too, where the planner sees no parameter's value: the
    job states are written into the statements' text for that (``job_rows._status_in``).
    """
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the index of active jobs is partial on PostgreSQL only; SQLite keeps it whole")
    queued, running = submit("a"), submit("a")
    assert _claim_next(settings, running) == running
    with session_factory(settings.database_url)() as session:
        job = session.get(Job, queued)
        values = {column: getattr(job, column) for column in job_rows._NEW_COLUMNS}
        ended = [dict(values, id=f"ended-{n}", idempotency_key=None, status="canceled") for n in range(500)]
        session.execute(insert(Job), ended)
        session.commit()
    engine = get_engine(settings.database_url)
    with engine.connect() as connection:
        connection.execute(text("ANALYZE jobs"))
        connection.commit()
        connection.execute(text("LOAD 'auto_explain'"))
        connection.execute(text("SET plan_cache_mode = force_generic_plan"))

        def run(connection) -> None:
            for n in range(7):  # psycopg prepares a statement from its sixth execution
                assert (
                    job_rows.insert_job(connection, dict(values, id=f"new-{n}", idempotency_key=None), room=2) is None
                )
                assert list(connection.execute(job_rows._TURNS)) == [(job.tenant_id, 1)]
                connection.rollback()

        plans = _plans(connection, run)
    assert len(plans) == 14 and "Custom" not in "".join(plans)
    for plan in plans:
        assert "ix_jobs_active" in plan, plan
        assert "Seq Scan" not in plan and "ix_jobs_tenant_created" not in plan, plan
        assert "uq_jobs_tenant_idempotency_key" not in plan, plan


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
