"""Retention on both databases: expired jobs go with their results, in small batches; nothing else goes."""

from datetime import timedelta

import numpy as np
from sqlalchemy import func, select, update

from service.graph import Evaluation
from service.storage import job_rows, retention, webhook_rows
from service.storage.database import get_engine, session_factory
from service.storage.models import Job, JobChunk, WebhookDelivery, utcnow


def _succeeded(settings, job_id: str, n_rows: int) -> None:
    """End the job with results in ``n_rows`` chunk rows (4 nodes a row)."""
    with get_engine(settings.database_url).connect() as connection:
        claimed = job_rows.claim(connection, job_id, job_rows.seconds_ago(60))
        numbers = np.arange(4.0 * n_rows).reshape(-1, 1)
        assert job_rows.succeed(connection, claimed, numbers[:1], None, Evaluation(numbers, -numbers), 4)


def _count(session, model, job_id: str) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.job_id == job_id))


def test_expired_jobs_go_with_their_results_and_nothing_else_does(settings, submit, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK_ROWS", 16)  # many transactions for the one job
    expiring, kept, running = submit("a", ttl=1), submit("a", ttl=3600), submit("a", ttl=1)
    _succeeded(settings, expiring, 50)
    _succeeded(settings, kept, 3)
    with session_factory(settings.database_url)() as session:
        tenant = session.scalar(select(Job.tenant_id).where(Job.id == expiring))
        webhook_rows.new_webhook(session, tenant, "https://93.184.216.34/", ["job.succeeded"], "sealed")
        pending = webhook_rows.queue_deliveries(session, expiring, "job.succeeded")[0]
        delivered = webhook_rows.queue_deliveries(session, expiring, "job.succeeded")[0]
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivered).values(state="delivered"))
        assert job_rows.claim(session, running, job_rows.seconds_ago(60)) is not None
        # as if it had an expiry: a running job must still never be deleted
        session.execute(update(Job).where(Job.id == running).values(expires_at=utcnow() - timedelta(days=1)))
        session.commit()
        assert _count(session, JobChunk, expiring) == 50

        later = utcnow() + timedelta(seconds=5)
        assert retention.expired(session, later, 10) == [expiring]
        assert retention.delete_expired(session, later, 10) == 1

        assert session.get(Job, expiring) is None and _count(session, JobChunk, expiring) == 0
        assert session.get(Job, kept) is not None and _count(session, JobChunk, kept) == 3
        assert session.get(Job, running).status == "running"
        assert session.get(WebhookDelivery, pending) is not None  # its event is still owed
        assert session.get(WebhookDelivery, delivered) is None
        assert retention.delete_expired(session, later, 10) == 0


def test_jobs_that_ended_without_an_expiry_get_one(settings, submit):
    old, new = submit("a", ttl=None), submit("a", ttl=60)
    with session_factory(settings.database_url)() as session:
        job_rows.cancel(session, old)
        job_rows.cancel(session, new)
        new_expiry = session.get(Job, new).expires_at
        assert session.get(Job, old).expires_at is None
        assert retention.stamp_unstamped(session, 3600, 100) == 1
        session.expire_all()
        stamped = session.get(Job, old)
        assert stamped.ttl_seconds == 3600
        assert timedelta(minutes=59) < stamped.expires_at - stamped.finished_at < timedelta(minutes=61)
        assert session.get(Job, new).expires_at == new_expiry
