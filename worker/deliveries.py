"""Posting one webhook delivery, from lease to the record of its attempt; the Celery task wraps ``post_delivery``.

The message only says "post delivery N"; the row decides, as for jobs: a delivery already
delivered, not yet due, or leased by another sender is left alone. What the receiver answered
decides what follows: 2xx delivered, 410 the endpoint disabled, anything else (or no answer)
tried again later by the sweeper (``service.webhooks.schedule``), until WEBHOOK_RETRY_FOR has passed.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

from service.runtime.config import Settings
from service.storage import webhook_rows
from service.storage.database import session_factory
from service.webhooks import Attempt, SecretBox, deliver, signed_headers
from service.webhooks.events import event_body
from service.webhooks.schedule import next_attempt_at

from . import job_metrics

log = logging.getLogger("gategraph.webhooks")
LEASE_MARGIN = 30.0  # seconds a lease outlasts the longest post (connect + read timeouts)


@functools.cache
def _box(keys: str) -> SecretBox:
    return SecretBox(keys)


def post_delivery(settings: Settings, delivery_id: str) -> str:
    """Make one attempt of a due delivery; return what followed (a delivery state, or why nothing was done)."""
    lease = settings.webhook_connect_timeout + settings.webhook_read_timeout + LEASE_MARGIN
    sessions = session_factory(settings.database_url)
    with sessions() as session:
        work = webhook_rows.lease(session, delivery_id, lease)
    if work is None:
        return "not due"
    body = event_body(work.event, work.created_at, work.job_id, work.graph_id)
    headers = signed_headers(_box(settings.webhook_secret_keys).open(work.sealed_secret), work.id, _now(), body)
    attempt = deliver(
        work.url,
        body.encode(),
        headers,
        allow_private=settings.webhook_allow_private,
        connect_timeout=settings.webhook_connect_timeout,
        read_timeout=settings.webhook_read_timeout,
        ca_certs=settings.webhook_ca_bundle or None,
    )
    outcome, retry_at = _what_follows(settings, work, attempt)
    with sessions() as session:
        webhook_rows.record_attempt(session, work, attempt.status, attempt.error, attempt.seconds, outcome, retry_at)
    job_metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()
    log.info(
        "webhook delivery %s",
        outcome,
        extra={"delivery": work.id, "attempt": work.attempts + 1, "status": attempt.status, "error": attempt.error},
    )
    return outcome


def _what_follows(settings: Settings, work: webhook_rows.Work, attempt: Attempt) -> tuple[str, datetime | None]:
    if attempt.delivered:
        return webhook_rows.DELIVERED, None
    if attempt.gone:
        return webhook_rows.CANCELED, None
    retry_at = next_attempt_at(
        work.attempts + 1,
        work.created_at,
        _now(),
        settings.webhook_retry_base,
        settings.webhook_retry_max,
        settings.webhook_retry_for,
    )
    return (webhook_rows.PENDING, retry_at) if retry_at is not None else (webhook_rows.FAILED, None)


def _now() -> datetime:
    return datetime.now(UTC)
