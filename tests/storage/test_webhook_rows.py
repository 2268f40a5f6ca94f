"""Webhook rows: deliveries queued by the transaction that ends a job, leases, attempts, dispatch guards."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
from sqlalchemy import select

from service.graph import Evaluation
from service.storage import job_rows, webhook_rows
from service.storage.database import get_engine, session_factory
from service.storage.models import Job, WebhookDelivery, utcnow
from tests.storage.test_job_rows import _queued_job


def _tenant_of(session, job_id: str) -> int:
    return session.scalar(select(Job.tenant_id).where(Job.id == job_id))


def _hooks(settings, job_id: str, *events: list[str]) -> list[str]:
    with session_factory(settings.database_url)() as session:
        tenant = _tenant_of(session, job_id)
        return [webhook_rows.new_webhook(session, tenant, "https://93.184.216.34/", e, "sealed").id for e in events]


def _deliveries(settings) -> list[WebhookDelivery]:
    with session_factory(settings.database_url)() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.webhook_id)))


def test_a_success_queues_one_delivery_per_subscribed_endpoint_in_its_transaction(settings):
    job_id = _queued_job(settings)
    wanted, _ = _hooks(settings, job_id, ["job.succeeded", "job.failed"], ["job.canceled"])
    with get_engine(settings.database_url).connect() as conn:
        claimed = job_rows.claim(conn, job_id, job_rows.seconds_ago(60))
        result = Evaluation(np.array([[2.0], [3.0], [6.0]]), np.array([[3.0], [2.0], [1.0]]))
        ended = job_rows.succeed(conn, claimed, result.values[[2]], None, result, 16)
    [delivery] = _deliveries(settings)
    assert ended.deliveries == [delivery.id]
    assert (delivery.webhook_id, delivery.event, delivery.state, delivery.job_id) == (
        wanted,
        "job.succeeded",
        "pending",
        job_id,
    )
    assert delivery.dispatched_at is not None  # the caller sends it; the sweeper leaves it alone meanwhile


def test_a_lost_job_queues_nothing(settings):
    job_id = _queued_job(settings)
    _hooks(settings, job_id, ["job.succeeded"])
    with get_engine(settings.database_url).connect() as conn:
        claimed = job_rows.claim(conn, job_id, job_rows.seconds_ago(60))
        result = Evaluation(np.array([[2.0], [3.0], [6.0]]), np.array([[3.0], [2.0], [1.0]]))
        another_attempt = dataclasses.replace(claimed, attempt=99)
        assert job_rows.succeed(conn, another_attempt, result.values[[2]], None, result, 16) is None
    assert _deliveries(settings) == []


def test_cancel_fail_and_worker_lost_are_events_too(settings):
    canceled, failed, lost = (_queued_job(settings) for _ in range(3))
    _hooks(settings, canceled, ["job.canceled", "job.failed"])
    with session_factory(settings.database_url)() as session:
        assert job_rows.cancel(session, canceled).deliveries
        assert job_rows.cancel(session, canceled) is None  # already ended: nothing more owed
        assert job_rows.fail(session, failed, "internal_error", "boom").deliveries
        job_rows.claim(session, lost, job_rows.seconds_ago(60))
        _, gone, owed = job_rows.requeue_abandoned(session, job_rows.seconds_ago(-60), max_attempts=1)
        assert gone == [lost] and len(owed) == 1
    events = sorted((d.job_id, d.event) for d in _deliveries(settings))
    assert events == sorted([(canceled, "job.canceled"), (failed, "job.failed"), (lost, "job.failed")])


def test_a_lease_is_taken_once_and_attempts_decide_what_follows(settings):
    job_id = _queued_job(settings)
    _hooks(settings, job_id, ["job.failed"])
    with session_factory(settings.database_url)() as session:
        [delivery_id] = job_rows.fail(session, job_id, "internal_error", "boom").deliveries
        work = webhook_rows.lease(session, delivery_id, 30)
        assert work is not None and work.attempts == 0 and work.sealed_secret == "sealed"
        assert webhook_rows.lease(session, delivery_id, 30) is None  # held
        retry_at = utcnow() + timedelta(seconds=60)
        webhook_rows.record_attempt(session, work, 500, None, 0.1, webhook_rows.PENDING, retry_at)
        assert webhook_rows.lease(session, delivery_id, 30) is None  # not due yet
        assert webhook_rows.undispatched(session, job_rows.seconds_ago(60)) == []
        session.execute(WebhookDelivery.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        assert webhook_rows.undispatched(session, job_rows.seconds_ago(60)) == [delivery_id]
        assert webhook_rows.mark_dispatched(session, delivery_id, job_rows.seconds_ago(60))
        assert not webhook_rows.mark_dispatched(session, delivery_id, job_rows.seconds_ago(60))  # one sender
        second = webhook_rows.lease(session, delivery_id, 30)
        assert second.attempts == 1
        webhook_rows.record_attempt(session, second, 410, None, 0.1, webhook_rows.CANCELED)
        attempts = webhook_rows.attempts_of(session, [delivery_id])[delivery_id]
        assert [(a.number, a.status) for a in attempts] == [(1, 500), (2, 410)]
    [delivery] = _deliveries(settings)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("canceled", 2, 410)
