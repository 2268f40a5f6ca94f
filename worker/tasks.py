"""The Celery tasks: thin wrappers around ``worker.runner.run`` and ``worker.deliveries.post_delivery``."""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.signals import task_failure, worker_init, worker_process_init
from sqlalchemy.exc import OperationalError

from service.graph.engine import warm_up
from service.runtime import logs
from service.runtime.job_queue import DELIVER_TASK, TASK_NAME
from service.runtime.metrics_registry import process_registry
from service.storage.database import dispose_all
from service.storage.migrate import SchemaOutOfDate, check_schema
from service.storage.plan_cache import PlanCache

from .celery_app import app
from .deliveries import post_delivery
from .runner import fail_killed, run

log = logging.getLogger("gategraph.worker")
settings = app.gategraph_settings
plans = PlanCache(settings.plan_cache_size)


@worker_init.connect
def _refuse_an_old_schema(**_kwargs) -> None:
    """Like the API, the worker will not run against a schema its code does not match."""
    try:
        check_schema(settings.database_url)
    except SchemaOutOfDate as exc:
        raise SystemExit(f"gategraph worker: {exc}") from None
    logs.configure(settings.log_level)
    if settings.worker_metrics_port:  # the pool children's numbers too, in multiprocess mode
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, registry=process_registry())


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    """A forked pool child must not share the parent's pooled database connections; load the kernels now."""
    dispose_all()
    logs.configure(settings.log_level)
    warm_up()


@task_failure.connect
def _hard_time_limit(sender=None, task_id=None, exception=None, **_kwargs) -> None:
    """The hard time limit killed the pool child (inside a kernel the soft limit cannot interrupt).

    Celery sends this in the main process; the job the task claimed (found by the task's id, as
    the message may have run another job than it was sent for) is failed here with the reason,
    once, rather than run again by the sweeper and killed again until MAX_ATTEMPTS.
    """
    if getattr(sender, "name", None) != TASK_NAME or not isinstance(exception, TimeLimitExceeded) or not task_id:
        return
    message = f"the job ran over the hard time limit of {settings.job_time_limit:g} s (JOB_TIME_LIMIT) and was stopped"
    try:
        job_id = fail_killed(settings, task_id, "time_limit", message)
    except OperationalError:
        log.warning("job over its time limit, database unreachable: the sweeper will retry it")
        return
    if job_id is not None:
        token = logs.job_id.set(job_id)  # the main process goes on with other work afterwards
        log.warning("job over the hard time limit: failed")
        logs.job_id.reset(token)


@app.task(name=TASK_NAME, bind=True, max_retries=30)
def run_job(self, job_id: str, request_id: str | None = None) -> str:
    """Run one job to a terminal state (``job_id``, if its tenant's turn has come; else the one whose turn it is).

    Retried while the database is unreachable.
    """
    logs.job_id.set(job_id)
    logs.request_id.set(request_id)
    try:
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        return run(settings, job_id, plans, (SoftTimeLimitExceeded,), redelivered, self.request.id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=2) from None


@app.task(name=DELIVER_TASK, bind=True, max_retries=30)
def deliver_webhook(self, delivery_id: str) -> str:
    """Post one webhook delivery (on its own queue, so a slow receiver never holds a job).

    Retried while the database is unreachable.
    """
    try:
        return post_delivery(settings, delivery_id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=2) from None
