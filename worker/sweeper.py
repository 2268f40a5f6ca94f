"""The sweeper: finds accepted jobs that no message will ever run, and sends them again.

It runs as a thread in every worker's main process. Each send is guarded by a
compare-and-set on the job row, so several workers sweeping at once send a job once.
- queued, never sent (Redis was down when it was accepted, or the API died after commit);
- queued, sent long ago, and the broker queue is empty (Redis restarted and lost it);
- running with a stale heartbeat (its worker was killed): queued again, or failed with a
  reason after MAX_ATTEMPTS;
- webhook deliveries that are due (a retry's time has come) or whose message was lost (the
  process that ended the job died before sending it, or Redis restarted): sent again, each
  guarded by its own compare-and-set.

Every RETENTION_INTERVAL it also deletes expired jobs (``storage.retention``), in one process
at a time: the one holding a Redis lock (on the broker's Redis), so that several workers do not
delete the same rows side by side.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy.orm import Session

from service.runtime.job_ends import announce_end
from service.runtime.job_events import SOCKET_TIMEOUT, redis_url
from service.runtime.job_queue import queue_length, send_deliveries, send_job
from service.storage import job_rows, retention, webhook_rows
from service.storage.database import session_factory
from service.storage.models import utcnow

from . import job_metrics
from .celery_app import app

log = logging.getLogger("gategraph.sweeper")
_stop = threading.Event()


def sweep(celery: Celery) -> int:
    """One pass; returns how many jobs were sent."""
    settings = celery.gategraph_settings
    sessions = session_factory(settings.database_url)
    with sessions() as session:
        requeued, failed, deliveries = job_rows.requeue_abandoned(
            session, job_rows.seconds_ago(settings.stale_running_after), settings.max_attempts
        )
        for job_id in failed:
            announce_end(settings, job_id, [], celery)
            log.warning("job %s failed: its worker stopped %d times", job_id, settings.max_attempts)
        if deliveries:
            send_deliveries(celery, deliveries, settings.delivery_queue)
        resend_before = job_rows.seconds_ago(settings.stale_queued_after) if queue_length(celery) == 0 else None
        candidates = job_rows.unsent(session, job_rows.seconds_ago(5), resend_before)
        sent = 0
        for job_id in candidates:
            if job_rows.mark_sent(session, job_id, resend_before):
                try:
                    send_job(celery, job_id)
                except Exception:
                    job_rows.clear_sent(session, job_id)
                    raise
                sent += 1
        redelivered = dispatch_deliveries(celery, session)
    if sent or requeued or redelivered:
        log.info(
            "sweeper: %d job(s) requeued from dead workers, %d job message(s) and %d delivery message(s) sent",
            len(requeued),
            sent,
            redelivered,
        )
    return sent


def dispatch_deliveries(celery: Celery, session: Session) -> int:
    """Send the deliveries that are due with no message on its way (or one sent STALE_QUEUED_AFTER ago)."""
    settings = celery.gategraph_settings
    sent_before = job_rows.seconds_ago(settings.stale_queued_after)
    due = webhook_rows.undispatched(session, sent_before)
    claimed = [d for d in due if webhook_rows.mark_dispatched(session, d, sent_before)]
    if claimed:
        try:
            send_deliveries(celery, claimed, settings.delivery_queue)
        except Exception:
            webhook_rows.clear_dispatched(session, claimed)
            raise
    return len(claimed)


RETENTION_LOCK_SECONDS = 300  # a pass that outlives its lock is only joined by another, never wrong
RETENTION_BATCHES = 20  # batches of RETENTION_BATCH jobs per pass at most; the next pass goes on


def expire(celery: Celery) -> int:
    """One retention pass, if no other process holds its lock; returns how many jobs were deleted."""
    settings = celery.gategraph_settings
    client = redis.Redis.from_url(
        redis_url(settings.broker_url), socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
    )
    lock = client.lock(f"{settings.queue}:retention", timeout=RETENTION_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0
    deleted = 0
    try:
        with session_factory(settings.database_url)() as session:
            retention.stamp_unstamped(session, settings.job_ttl, settings.retention_batch * RETENTION_BATCHES)
            for _ in range(RETENTION_BATCHES):
                gone = retention.delete_expired(session, utcnow(), settings.retention_batch)
                deleted += gone
                if gone < settings.retention_batch:
                    break
    finally:
        _release(lock)
        client.close()
    if deleted:
        job_metrics.JOBS_EXPIRED.inc(deleted)
        log.info("retention: %d expired job(s) deleted with their results", deleted)
    return deleted


def _release(lock: redis.lock.Lock) -> None:
    try:
        lock.release()
    except redis.exceptions.LockError:  # it expired during a long pass: another may hold it now
        log.warning("retention: the lock expired before the pass ended")


def _loop(celery: Celery) -> None:
    settings = celery.gategraph_settings
    interval, next_retention = settings.sweep_interval, time.monotonic()
    while not _stop.wait(interval):
        try:
            sweep(celery)
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + settings.retention_interval
                expire(celery)
        except Exception:  # Redis or the database down: try again next time
            log.warning("sweep failed; retrying in %g s", interval, exc_info=True)


@worker_ready.connect
def _start(sender=None, **_kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_loop, args=(app,), name="gategraph-sweeper", daemon=True).start()


@worker_shutdown.connect
def _stop_sweeping(sender=None, **_kwargs) -> None:
    _stop.set()
