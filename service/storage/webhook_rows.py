"""Webhook endpoints, their deliveries and every attempt: the rows of at-least-once completion callbacks.

A delivery is queued by ``queue_deliveries`` inside the transaction that ends its job, so an
event is owed exactly when the job has ended, whoever ends it and whatever dies next. Sending is
guarded like jobs are: ``dispatched_at`` says a message is on its way (the sweeper sends again
when it is old), and a sender ``lease``s a delivery with a compare-and-set before it posts, so
two messages for one delivery post it once (barring a lease that runs out mid-post: at least once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from .keyset import After, newest_first
from .models import Job, Webhook, WebhookAttempt, WebhookDelivery, utcnow

PENDING, DELIVERED, FAILED, CANCELED = "pending", "delivered", "failed", "canceled"

WEBHOOKS, DELIVERIES, JOBS = Webhook.__table__, WebhookDelivery.__table__, Job.__table__

# Built once: it runs in the transaction of every job that ends.
_SUBSCRIBED = (
    select(WEBHOOKS.c.id, JOBS.c.graph_id)
    .select_from(JOBS.join(WEBHOOKS, WEBHOOKS.c.tenant_id == JOBS.c.tenant_id))
    .where(
        JOBS.c.id == bindparam("job_id"),
        WEBHOOKS.c.disabled_at.is_(None),
        WEBHOOKS.c.events.contains(bindparam("event")),
    )
)
_INSERT = insert(DELIVERIES)


def new_webhook(session: Session, tenant_id: int, url: str, events: list[str], sealed_secret: str) -> Webhook:
    """Insert and commit an endpoint."""
    webhook = Webhook(id=str(uuid.uuid4()), tenant_id=tenant_id, url=url, events=",".join(events), secret=sealed_secret)
    session.add(webhook)
    session.commit()
    return webhook


def tenant_webhook(session: Session, tenant_id: int, webhook_id: str) -> Webhook | None:
    return session.scalar(select(Webhook).where(Webhook.id == webhook_id, Webhook.tenant_id == tenant_id))


def webhook_page(session: Session, tenant_id: int, after: After | None, limit: int) -> tuple[list[Webhook], bool]:
    return newest_first(session, select(Webhook).where(Webhook.tenant_id == tenant_id), Webhook, after, limit)


def delete_webhook(session: Session, webhook_id: str) -> None:
    """Delete and commit an endpoint; its deliveries and attempts go with it (ON DELETE CASCADE)."""
    session.execute(delete(Webhook).where(Webhook.id == webhook_id))
    session.commit()


def queue_deliveries(executor: Any, job_id: str, event: str) -> list[str]:
    """Owe ``event`` of a job to each of its tenant's endpoints subscribed to it; the caller commits.

    Returns the new deliveries' ids, for the caller to send once its transaction is committed.
    """
    subscribed = executor.execute(_SUBSCRIBED, {"job_id": job_id, "event": event}).all()
    if not subscribed:
        return []
    now = utcnow()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "webhook_id": webhook_id,
            "job_id": job_id,
            "graph_id": graph_id,
            "event": event,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "dispatched_at": now,  # the caller sends it right after commit; the sweeper if not
        }
        for webhook_id, graph_id in subscribed
    ]
    executor.execute(_INSERT, rows)
    return [row["id"] for row in rows]


def delivery_page(
    session: Session, webhook_id: str, after: After | None, limit: int
) -> tuple[list[WebhookDelivery], bool]:
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    return newest_first(session, query, WebhookDelivery, after, limit)


def attempts_of(session: Session, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    """The attempts of these deliveries, first to last."""
    found: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    query = select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids))
    for attempt in session.scalars(query.order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)):
        found[attempt.delivery_id].append(attempt)
    return found


@dataclass(frozen=True)
class Work:
    """What a sender needs to post a delivery it has leased."""

    id: str
    webhook_id: str
    url: str
    sealed_secret: str
    event: str
    job_id: str
    graph_id: str
    created_at: datetime
    attempts: int  # before this one


def lease(session: Session, delivery_id: str, seconds: float) -> Work | None:
    """Take a due delivery for ``seconds`` (compare-and-set); None if delivered, not due, or held by another."""
    now = utcnow()
    taken = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.state == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
        )
        .values(leased_until=now + timedelta(seconds=seconds))
    ).rowcount
    session.commit()
    if taken != 1:
        return None
    row = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.webhook_id,
            Webhook.url,
            Webhook.secret,
            WebhookDelivery.event,
            WebhookDelivery.job_id,
            WebhookDelivery.graph_id,
            WebhookDelivery.created_at,
            WebhookDelivery.attempts,
        )
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)
    ).one_or_none()
    return Work(*row) if row is not None else None


def record_attempt(
    session: Session,
    work: Work,
    status: int | None,
    error: str | None,
    seconds: float,
    outcome: str,
    next_attempt_at: datetime | None = None,
) -> None:
    """Record one attempt and what follows: ``outcome`` PENDING (retry at ``next_attempt_at``), DELIVERED,
    FAILED (given up), or CANCELED (the receiver answered 410: its endpoint is disabled with all it was owed).
    """
    now = utcnow()
    number = work.attempts + 1
    session.execute(
        insert(WebhookAttempt).values(
            delivery_id=work.id, number=number, at=now, status=status, error=error, seconds=seconds
        )
    )
    values: dict[str, Any] = dict(
        attempts=number, last_status=status, last_error=error, leased_until=None, state=outcome
    )
    if outcome == PENDING:
        values.update(next_attempt_at=next_attempt_at, dispatched_at=None)  # the sweeper sends it when due
    elif outcome == DELIVERED:
        values.update(delivered_at=now, next_attempt_at=None)
    else:
        values.update(next_attempt_at=None)
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id == work.id).values(**values))
    if outcome == CANCELED:
        _disable(session, work.webhook_id, f"the receiver answered {status} Gone", now)
    session.commit()


def _disable(session: Session, webhook_id: str, reason: str, now: datetime) -> None:
    session.execute(
        update(Webhook)
        .where(Webhook.id == webhook_id, Webhook.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason)
    )
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.state == PENDING)
        .values(state=CANCELED, next_attempt_at=None, last_error="the endpoint was disabled")
    )


def undispatched(session: Session, sent_before: datetime, limit: int = 1000) -> list[str]:
    """Pending deliveries that are due with no message on its way (none, or one sent before ``sent_before``)."""
    now = utcnow()
    query = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.state == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.dispatched_at.is_(None), WebhookDelivery.dispatched_at < sent_before),
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def mark_dispatched(session: Session, delivery_id: str, sent_before: datetime) -> bool:
    """Record that a message for this delivery is on its way; False if another sender got there first."""
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.state == PENDING,
            or_(WebhookDelivery.dispatched_at.is_(None), WebhookDelivery.dispatched_at < sent_before),
        )
        .values(dispatched_at=utcnow())
    )
    session.commit()
    return result.rowcount == 1


def clear_dispatched(session: Session, delivery_ids: list[str]) -> None:
    """The messages could not be sent: leave the deliveries for the sweeper."""
    session.execute(
        update(WebhookDelivery)
        .where(and_(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.state == PENDING))
        .values(dispatched_at=None)
    )
    session.commit()
