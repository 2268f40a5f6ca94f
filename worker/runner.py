"""Running one job, from claim to a terminal state; the Celery task is a thin wrapper around ``run``.

The message only says "go look at job N"; the row decides. A message delivered twice finds
the job claimed and does nothing; a job whose worker died is taken over once its heartbeat
is stale (here on redelivery, or by the sweeper).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import orjson
from sqlalchemy.exc import OperationalError

from service.config import Settings
from service.graph import evaluate, json_float, json_floats
from service.graph.gradcheck import check_gradients
from service.job_events import publisher
from service.storage import jobs
from service.storage.database import get_engine, session_factory
from service.storage.plan_cache import PlanCache
from service.storage.results import chunk_nodes_for

from . import metrics

log = logging.getLogger("gategraph.worker")


def run(settings: Settings, job_id: str, plans: PlanCache, time_limit_errors: tuple[type[BaseException], ...] = ()) -> str:
    """Claim and run a job; return what happened.

    ``time_limit_errors``: the exceptions that mean the soft time limit was hit (Celery's).
    :raise OperationalError: the database is down at claim.
    """
    with get_engine(settings.database_url).connect() as connection:
        claimed = jobs.claim(connection, job_id, jobs.seconds_ago(settings.stale_running_after))
    if claimed is None:
        return "not claimable"  # finished, canceled, deleted, or another worker holds it
    attempt = claimed.attempt
    log.info("job claimed", extra={"attempt": attempt, "pid": os.getpid()})  # which process ran which attempt
    with _heartbeat(settings, job_id, attempt):
        try:
            outcome = _execute(settings, job_id, claimed, plans)
            if outcome == "succeeded":
                metrics.JOBS_ENDED.labels("succeeded").inc()
            return outcome
        except time_limit_errors:
            return _fail(settings, job_id, attempt, "time_limit", f"the job ran over the time limit of {settings.job_soft_time_limit:g} s (JOB_SOFT_TIME_LIMIT)")
        except MemoryError:
            return _fail(settings, job_id, attempt, "out_of_memory", "the job needed more memory than the worker has")
        except OperationalError:
            log.exception("database error in job %s; the sweeper will retry it", job_id)
            return "database unreachable"
        except Exception:  # noqa: BLE001 - a job must end with a reason, whatever happened
            log.exception("job %s failed", job_id)
            return _fail(settings, job_id, attempt, "internal_error", "the worker failed while running this job; it has been logged")


def _execute(settings: Settings, job_id: str, claimed: jobs.Claim, plans: PlanCache) -> str:
    sessions = session_factory(settings.database_url)
    attempt, batched, wants_check = claimed.attempt, claimed.batched, claimed.check_gradients
    timer = _StageTimer(settings, job_id, attempt)
    with sessions() as session:
        plan = plans.get(session, claimed.graph_id)
    if plan is None:
        return "deleted"
    values, output_grads = jobs.inputs_from_bytes(claimed.inputs)
    timer.next("computing", 0.3)
    result = evaluate(plan, values, output_grads)
    output_rows = json_floats(result.values[plan.outputs])
    outputs = orjson.dumps({name: (row if batched else row[0]) for name, row in zip(plan.output_ids, output_rows)}).decode()
    check = None
    if wants_check:
        timer.next("checking", 0.5)
        report = check_gradients(plan, values, output_grads, result.grads).as_dict()
        check = orjson.dumps({k: json_float(v) if isinstance(v, float) else v for k, v in report.items()}).decode()
    timer.next("storing", 0.6)
    chunk_nodes = chunk_nodes_for(result.batch_size)
    with get_engine(settings.database_url).connect() as connection:
        stored = jobs.succeed(connection, job_id, attempt, outputs, check, result.values, result.grads, chunk_nodes)
    timer.next(None, 1.0)
    if not stored:
        return "no longer ours"
    publisher(settings.broker_url, settings.queue).ended(job_id)
    metrics.RESULT_ROWS.inc(-(-plan.n_nodes // chunk_nodes))
    metrics.RESULT_NODES.inc(plan.n_nodes)
    log.info("job succeeded", extra={"nodes": plan.n_nodes, "batch_size": result.batch_size, "stages": timer.seconds})
    return "succeeded"


class _StageTimer:
    """Moves a job from stage to stage: records the stage on the row and its duration in metrics.

    The claim recorded "loading". Later stages are written to the row only once the job has
    run STAGE_REPORT_AFTER seconds: for a job of a few milliseconds nobody can see its stage,
    and those writes would be most of its cost.
    """

    def __init__(self, settings: Settings, job_id: str, attempt: int):
        self.settings, self.job_id, self.attempt = settings, job_id, attempt
        self.stage, self.started = "loading", time.perf_counter()
        self.report_from = self.started + settings.stage_report_after
        self.seconds: dict[str, float] = {}

    def next(self, stage: str | None, progress: float) -> None:
        now = time.perf_counter()
        self.seconds[self.stage] = round(now - self.started, 6)
        metrics.STAGE_SECONDS.labels(self.stage).observe(now - self.started)
        self.stage, self.started = stage, now
        if stage is not None and now >= self.report_from:
            with session_factory(self.settings.database_url)() as session:
                jobs.beat(session, self.job_id, self.attempt, stage, progress)


def fail_killed(settings: Settings, job_id: str, code: str, message: str) -> bool:
    """Fail the running attempt of a job whose pool child was killed (by the hard time limit).

    Called in the worker's main process, which outlives the child: without it the job would
    wait for the sweeper, run again, be killed again, and end as ``worker_lost``.
    """
    with session_factory(settings.database_url)() as session:
        attempt = jobs.running_attempt(session, job_id)
    return attempt is not None and _fail(settings, job_id, attempt, code, message) == code


def _fail(settings: Settings, job_id: str, attempt: int, code: str, message: str) -> str:
    with session_factory(settings.database_url)() as session:
        if jobs.fail(session, job_id, code, message, attempt):
            publisher(settings.broker_url, settings.queue).ended(job_id)
            metrics.JOBS_ENDED.labels("failed").inc()
            log.warning("job failed: %s", code, extra={"code": code})
    return code


@contextmanager
def _heartbeat(settings: Settings, job_id: str, attempt: int) -> Iterator[None]:
    """Beat every HEARTBEAT_INTERVAL while the job runs (the kernels release the GIL)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(settings.heartbeat_interval):
            try:
                with session_factory(settings.database_url)() as session:
                    if not jobs.beat(session, job_id, attempt):
                        return
            except OperationalError:
                log.warning("heartbeat of job %s missed: database unreachable", job_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
