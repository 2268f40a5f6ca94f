"""What follows the commit that ended a job: its waiters woken, and the callbacks it queued sent.

Both are best effort on purpose: the database already holds the end and the deliveries owed
(``job_rows`` queued them in the same transaction), so a lost event costs a waiter a poll, and a
lost message costs a delivery a sweep (the sweeper sends every delivery whose message is old).
"""

from __future__ import annotations

import logging

from celery import Celery

from service.runtime.config import Settings
from service.runtime.job_events import publisher
from service.runtime.job_queue import publishing_app, send_deliveries

log = logging.getLogger("gategraph.events")


def announce_end(settings: Settings, job_id: str, deliveries: list[str], celery: Celery | None = None) -> None:
    """Tell waiters that ``job_id`` ended and send its ``deliveries``; never raises."""
    publisher(settings.broker_url, settings.queue).ended(job_id)
    if not deliveries:
        return
    try:
        send_deliveries(celery or publishing_app(settings), deliveries, settings.delivery_queue)
    except Exception:  # the deliveries are safe in the database; the sweeper sends them
        log.warning("could not send %d webhook deliveries of job %s now", len(deliveries), job_id, exc_info=True)
