"""The sweeper: finds accepted jobs that no message will ever run, and sends them again.

It runs as a thread in every worker's main process. Each send is guarded by a
compare-and-set on the job row, so several workers sweeping at once send a job once.
- queued, never sent (Redis was down when it was accepted, or the API died after commit);
- queued, sent long ago, and the broker queue is empty (Redis restarted and lost it);
- running with a stale heartbeat (its worker was killed): queued again, or failed with a
  reason after MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from service.runtime.job_events import publisher
from service.runtime.job_queue import queue_length, send_job
from service.storage import job_rows
from service.storage.database import session_factory

from .celery_app import app

log = logging.getLogger("gategraph.sweeper")
_stop = threading.Event()


def sweep(celery: Celery) -> int:
    """One pass; returns how many jobs were sent."""
    settings = celery.gategraph_settings
    sessions = session_factory(settings.database_url)
    with sessions() as session:
        requeued, failed = job_rows.requeue_abandoned(
            session, job_rows.seconds_ago(settings.stale_running_after), settings.max_attempts
        )
        for job_id in failed:
            publisher(settings.broker_url, settings.queue).ended(job_id)
            log.warning("job %s failed: its worker stopped %d times", job_id, settings.max_attempts)
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
    if sent or requeued:
        log.info("sweeper: %d job(s) requeued from dead workers, %d message(s) sent", len(requeued), sent)
    return sent


def _loop(celery: Celery) -> None:
    interval = celery.gategraph_settings.sweep_interval
    while not _stop.wait(interval):
        try:
            sweep(celery)
        except Exception:  # Redis or the database down: try again next time
            log.warning("sweep failed; retrying in %g s", interval, exc_info=True)


@worker_ready.connect
def _start(sender=None, **_kwargs) -> None:
    _stop.clear()
    threading.Thread(target=_loop, args=(app,), name="gategraph-sweeper", daemon=True).start()


@worker_shutdown.connect
def _stop_sweeping(sender=None, **_kwargs) -> None:
    _stop.set()
