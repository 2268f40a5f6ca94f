"""Running one job, from claim to a terminal state; the Celery task is a thin wrapper around ``run``.

The message only says "a job was queued (N)"; the rows decide which job runs: N if its tenant's
turn has come, else the oldest job of the tenant whose turn it is (``job_rows.claim_next``). A
message delivered twice finds nothing left to run, or runs another queued job whose own message
then finds nothing; a job whose worker died is taken over once its heartbeat is stale (here on
redelivery, or by the sweeper).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from service.graph import Plan, evaluate
from service.graph.engine import Evaluation
from service.graph.gradcheck import GradientCheck, check_gradients
from service.runtime import logs
from service.runtime.config import Settings
from service.runtime.job_ends import announce_end
from service.runtime.job_states import FAILED, SUCCEEDED
from service.storage import job_rows
from service.storage.database import get_engine, session_factory
from service.storage.job_blobs import inputs_batch_size, inputs_from_bytes
from service.storage.plan_cache import PlanCache
from service.storage.result_chunks import chunk_nodes_for

from . import job_metrics

log = logging.getLogger("gategraph.worker")
AT_ONCE_CELLS = 65_536  # nodes x batch size up to which a job on a cached plan runs inside its claim's transaction
_ROLLED_BACK, _TIMED_OUT = "rolled back", "timed out"
_NOT_OURS = "no longer ours"  # canceled, deleted or taken over while it ran


def run(
    settings: Settings,
    sent_for: str,
    plans: PlanCache,
    time_limit_errors: tuple[type[BaseException], ...] = (),
    redelivered: bool = False,
    task: str | None = None,
) -> str:
    """Claim a job (``sent_for``, or the one whose turn it is) and run it; return what happened.

    ``time_limit_errors``: the exceptions that mean the soft time limit was hit (Celery's).
    ``redelivered``: the broker gave this message back once already (its worker died).
    ``task``: the Celery task's id, recorded on the job (the hard time limit's handler finds it by it).
    :raise OperationalError: the database is down at claim.
    """
    stale_before = job_rows.seconds_ago(settings.stale_running_after)
    with get_engine(settings.database_url).connect() as connection:
        claimed = job_rows.claim_next(connection, sent_for, stale_before, commit=False, task=task)
        if claimed is None:
            return "not claimable"  # nothing queued: finished, canceled, deleted, or other workers hold them
        job_id = claimed.job_id
        if job_id != sent_for:  # the logs name the job that runs, and no other request
            logs.job_id.set(job_id)
            logs.request_id.set(None)
        # which process ran which attempt: the kill tests read it
        log.info("job claimed", extra={"attempt": claimed.attempt, "pid": os.getpid(), "sent_for": sent_for})
        outcome = None
        if not redelivered and claimed.attempt == 1:
            outcome = _run_at_once(settings, connection, job_id, claimed, plans, time_limit_errors)
        if outcome is None:
            connection.commit()
        elif outcome in (_ROLLED_BACK, _TIMED_OUT):  # claim it again, for good this time
            claimed = job_rows.claim(connection, job_id, stale_before, task=task)
            if claimed is None:
                return "not claimable"
            if outcome == _TIMED_OUT:
                return _fail(settings, job_id, claimed.attempt, "time_limit", _soft_limit_message(settings))
        else:
            return outcome
    attempt = claimed.attempt
    with heartbeats.beating(settings, job_id, attempt):
        try:
            return _ended(_execute(settings, job_id, claimed, plans))
        except time_limit_errors:
            return _fail(settings, job_id, attempt, "time_limit", _soft_limit_message(settings))
        except MemoryError:
            return _fail(settings, job_id, attempt, "out_of_memory", "the job needed more memory than the worker has")
        except OperationalError:
            log.exception("database error in job %s; the sweeper will retry it", job_id)
            return "database unreachable"
        except Exception:  # a job must end with a reason, whatever happened
            log.exception("job %s failed", job_id)
            return _fail(
                settings,
                job_id,
                attempt,
                "internal_error",
                "the worker failed while running this job; it has been logged",
            )


def _soft_limit_message(settings: Settings) -> str:
    return f"the job ran over the time limit of {settings.job_soft_time_limit:g} s (JOB_SOFT_TIME_LIMIT)"


def _run_at_once(
    settings: Settings,
    connection: Connection,
    job_id: str,
    claimed: job_rows.Claim,
    plans: PlanCache,
    time_limit_errors: tuple[type[BaseException], ...],
) -> str | None:
    """A small job on a cached plan: computed and stored in the claim's own transaction.

    Nobody could watch it run (it takes milliseconds), so it needs no heartbeat, no stages and no
    commit of its own. If the worker dies meanwhile, the claim rolls back with the rest and the
    message comes back marked redelivered: the caller then runs it the usual way, with its
    attempt counted, so a job that kills its worker still ends (``worker_lost``).
    None when the job is not one of these (the claim is still open); ``_ROLLED_BACK`` when
    anything went wrong, ``_TIMED_OUT`` on the soft time limit: the claim is undone.
    """
    plan = plans.cached(claimed.graph_id)
    if plan is None:
        return None
    try:
        if plan.n_nodes * inputs_batch_size(claimed.inputs) > AT_ONCE_CELLS:
            return None
        computed = _compute(plan, claimed, _StageTimer(settings, job_id, claimed.attempt, report=False))
        stored = _store(connection, claimed, computed)
    except time_limit_errors:
        connection.rollback()
        return _TIMED_OUT
    except Exception:  # the usual path runs it again and says what went wrong
        log.warning("job %s: running it at once failed; running it the usual way", job_id, exc_info=True)
        connection.rollback()
        return _ROLLED_BACK
    return _ended(_finished(settings, job_id, plan, computed, stored))


def _ended(outcome: str) -> str:
    if outcome == SUCCEEDED:
        job_metrics.JOBS_ENDED.labels(SUCCEEDED).inc()
    return outcome


@dataclass
class _Computed:
    result: Evaluation
    output_values: np.ndarray  # (n_outputs, batch_size)
    check: GradientCheck | None
    timer: _StageTimer


def _compute(plan: Plan, claimed: job_rows.Claim, timer: _StageTimer) -> _Computed:
    values, output_grads, tangents = inputs_from_bytes(claimed.inputs)
    timer.next("computing", 0.3)
    result = evaluate(plan, values, output_grads, tangents)
    check = None
    if claimed.check_gradients:
        timer.next("checking", 0.5)
        check = check_gradients(plan, values, output_grads, result.grads)
    timer.next("storing", 0.6)
    return _Computed(result, result.values[plan.outputs], check, timer)


def _store(connection: Connection, claimed: job_rows.Claim, computed: _Computed) -> job_rows.Ended | None:
    result = computed.result
    chunk_nodes = chunk_nodes_for(result.batch_size)
    return job_rows.succeed(connection, claimed, computed.output_values, computed.check, result, chunk_nodes)


def _finished(settings: Settings, job_id: str, plan: Plan, computed: _Computed, stored: job_rows.Ended | None) -> str:
    computed.timer.next(None, 1.0)
    if stored is None:
        return _NOT_OURS
    announce_end(settings, job_id, stored.deliveries)
    chunk_nodes = chunk_nodes_for(computed.result.batch_size)
    job_metrics.RESULT_ROWS.inc(-(-plan.n_nodes // chunk_nodes))
    job_metrics.RESULT_NODES.inc(plan.n_nodes)
    log.info(
        "job succeeded",
        extra={"nodes": plan.n_nodes, "batch_size": computed.result.batch_size, "stages": computed.timer.seconds},
    )
    return SUCCEEDED


def _execute(settings: Settings, job_id: str, claimed: job_rows.Claim, plans: PlanCache) -> str:
    timer = _StageTimer(settings, job_id, claimed.attempt)
    with session_factory(settings.database_url)() as session:
        plan = plans.get(session, claimed.graph_id)
    if plan is None:
        return "deleted"
    computed = _compute(plan, claimed, timer)
    with get_engine(settings.database_url).connect() as connection:
        stored = _store(connection, claimed, computed)
    return _finished(settings, job_id, plan, computed, stored)


class _StageTimer:
    """Moves a job from stage to stage: records the stage on the row and its duration in job_metrics.

    The claim recorded "loading". Later stages are written to the row only once the job has
    run STAGE_REPORT_AFTER seconds: for a job of a few milliseconds nobody can see its stage,
    and those writes would be most of its cost.
    """

    def __init__(self, settings: Settings, job_id: str, attempt: int, report: bool = True):
        self.settings, self.job_id, self.attempt = settings, job_id, attempt
        self.stage, self.started = "loading", time.perf_counter()
        self.report_from = self.started + settings.stage_report_after if report else float("inf")
        self.seconds: dict[str, float] = {}

    def next(self, stage: str | None, progress: float) -> None:
        now = time.perf_counter()
        self.seconds[self.stage] = round(now - self.started, 6)
        job_metrics.STAGE_SECONDS.labels(self.stage).observe(now - self.started)
        self.stage, self.started = stage, now
        if stage is not None and now >= self.report_from:
            with session_factory(self.settings.database_url)() as session:
                job_rows.beat(session, self.job_id, self.attempt, stage, progress)


def fail_killed(settings: Settings, task: str, code: str, message: str) -> str | None:
    """Fail the running job of the Celery task whose pool child was killed (by the hard time limit).

    Called in the worker's main process, which outlives the child: without it the job would
    wait for the sweeper, run again, be killed again, and end as ``worker_lost``. Returns the
    job's id, or None if the task's job was no longer running.
    """
    with session_factory(settings.database_url)() as session:
        running = job_rows.running_claimed_by(session, task)
    if running is None:
        return None
    job_id, attempt = running
    return job_id if fail_attempt(settings, job_id, attempt, code, message) else None


def fail_attempt(settings: Settings, job_id: str, attempt: int, code: str, message: str) -> bool:
    """Fail the job if ``attempt`` is still its running attempt, and tell waiters; False if it was not."""
    with session_factory(settings.database_url)() as session:
        ended = job_rows.fail(session, job_id, code, message, attempt)
    if ended is None:
        return False
    announce_end(settings, job_id, ended.deliveries)
    job_metrics.JOBS_ENDED.labels(FAILED).inc()
    log.warning("job failed: %s", code, extra={"code": code})
    return True


def _fail(settings: Settings, job_id: str, attempt: int, code: str, message: str) -> str:
    """``fail_attempt``, as an outcome of ``run``: the code, or "no longer ours"."""
    return code if fail_attempt(settings, job_id, attempt, code, message) else _NOT_OURS


class _Heartbeats:
    """One thread per process beats for the job it runs, every HEARTBEAT_INTERVAL (the kernels release the GIL).

    One thread for the life of the process, not one per job: starting and joining a thread
    cost about as much as a small job's computation.
    """

    def __init__(self) -> None:
        self._running: dict[str, tuple[Settings, int]] = {}
        self._lock = threading.Lock()
        self._pid = 0

    @contextmanager
    def beating(self, settings: Settings, job_id: str, attempt: int) -> Iterator[None]:
        with self._lock:
            if self._pid != os.getpid():  # first job in this process (pool children are forked)
                self._pid = os.getpid()
                threading.Thread(
                    target=self._beat_forever,
                    args=(settings.heartbeat_interval,),
                    name="gategraph-heartbeats",
                    daemon=True,
                ).start()
            self._running[job_id] = (settings, attempt)
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _beat_forever(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            with self._lock:
                running = list(self._running.items())
            for job_id, (settings, attempt) in running:
                try:
                    with session_factory(settings.database_url)() as session:
                        job_rows.beat(session, job_id, attempt)
                except OperationalError:
                    log.warning("heartbeat of job %s missed: database unreachable", job_id)
                except Exception:  # this thread must outlive any one failed beat
                    log.exception("heartbeat of job %s failed", job_id)


heartbeats = _Heartbeats()
