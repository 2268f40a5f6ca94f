"""The job queue, shared by the API and the worker: the Celery app factory, "send job N", the queue depth.

Neither side owns it: the API publishes with the app it builds here and the worker consumes with
its own (``worker.celery_app``), so importing the API builds no worker app and nothing under
``service/`` imports ``worker/``.

Redis is the broker and the database is the only record of a job, so there is no result
backend. Messages are acknowledged after the task (``task_acks_late``) and given back when
the worker child dies (``task_reject_on_worker_lost``); the visibility timeout, set in
every place Celery reads it, is longer than the hard time limit.
"""

from __future__ import annotations

import functools
import sys

from celery import Celery
from kombu.exceptions import ChannelError

from service.runtime.config import Settings

TASK_NAME = "gategraph.run_job"
DELIVER_TASK = "gategraph.deliver_webhook"
BROKER_TIMEOUT = 2.0  # seconds to connect to Redis, or to wait for one reply


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``, for publishing (API, sweeper) or consuming (worker)."""
    app = Celery("gategraph", broker=settings.broker_url or "redis://127.0.0.1:6379/0", set_as_current=False)
    # A Redis that stops answering without closing the connection (frozen, partitioned) must
    # not hold a submission or the sweeper forever: every command gives up after BROKER_TIMEOUT.
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        "socket_connect_timeout": BROKER_TIMEOUT,
        "socket_timeout": BROKER_TIMEOUT,
    }
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.job_soft_time_limit,
        task_time_limit=settings.job_time_limit,
        task_ignore_result=True,
        result_backend=None,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=settings.visibility_timeout,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    app.gategraph_settings = settings
    return app


def send_job(app: Celery, job_id: str, request_id: str | None = None) -> None:
    """Publish "go look at job N"; raises if the broker cannot be reached after one retry.

    One retry is enough to replace a pooled connection that died with a restarted Redis;
    more would only hold the caller longer (each attempt may wait BROKER_TIMEOUT).
    """
    app.send_task(
        TASK_NAME,
        args=[job_id],
        kwargs={"request_id": request_id} if request_id else {},
        queue=app.conf.task_default_queue,
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
    )


def send_deliveries(app: Celery, delivery_ids: list[str], queue: str) -> None:
    """Publish "post webhook delivery N" on the deliveries' own queue (never the jobs' queue)."""
    for delivery_id in delivery_ids:
        app.send_task(
            DELIVER_TASK,
            args=[delivery_id],
            queue=queue,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        )


@functools.cache
def publishing_app(settings: Settings) -> Celery:
    """One app per process and deployment for publishing where none is at hand (the runner, the sweeper)."""
    return make_celery(settings)


def queue_length(app: Celery) -> int:
    """Messages waiting in the job queue (not counting ones a worker holds); 0 if Redis has no such queue."""
    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare(app.conf.task_default_queue, passive=True).message_count
        except ChannelError:  # never declared, or Redis restarted empty
            return 0


def worker_command(
    queue: str, log_level: str = "INFO", concurrency: int | None = None, pool: str | None = None
) -> list[str]:
    """The command line of a Celery worker consuming ``queue`` (the app is named, not imported)."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--loglevel",
        log_level,
        "-Q",
        queue,
        # Mingle (a second's wait at each start for neighbours' revoked ids and clocks) and gossip
        # (every worker hearing every other's events through Redis) serve remote revokes, which
        # gategraph does not use: a job is canceled in its row.
        "--without-mingle",
        "--without-gossip",
    ]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    if pool:
        command += ["--pool", pool]
    return command


def delivery_worker_command(settings: Settings, log_level: str = "INFO", concurrency: int = 8) -> list[str]:
    """A worker of webhook deliveries: threads, since a delivery mostly waits on its receiver."""
    return worker_command(settings.delivery_queue, log_level, concurrency, pool="threads")
