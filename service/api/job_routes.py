"""/v1/jobs: submit (two-step or one-step, idempotent, ``Prefer: wait=N``), poll (with ?wait=), cancel, delete, list."""

from __future__ import annotations

import hashlib
import logging
import time
from contextlib import nullcontext
from typing import Any

from flask import Response, current_app, g, request
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from service.graph import InvalidInput, JobInputs, Plan, Problem, bind_inputs
from service.runtime.job_ends import announce_end
from service.runtime.job_events import Waiter
from service.runtime.job_queue import send_job
from service.runtime.job_states import TERMINAL_STATES
from service.storage import job_reads, job_rows
from service.storage.graph_rows import save_graph
from service.storage.models import Job

from .answers import job_body, json_response
from .body_parser import ApiBlueprint
from .http_schemas import (
    JobListArgsSchema,
    JobPageSchema,
    JobSchema,
    JobSubmissionSchema,
    OneStepJobSchema,
    ProblemSchema,
    WaitArgsSchema,
)
from .paging import after_cursor, page_body, page_limit
from .preferences import prefer_wait
from .problems import ApiProblem, invalid, not_found
from .rate_limits import queue_full
from .request_context import (
    caller,
    db,
    extension,
    plan_cache,
    require_key,
    settings,
    tenant_graph_id,
    tenant_job,
    tenant_job_row,
)

log = logging.getLogger("gategraph.api")
blp = ApiBlueprint(
    "jobs", __name__, url_prefix="/v1", description="Jobs: one input assignment or a batch, run by the workers."
)
blp.before_request(require_key)

RETRY_AFTER = "1"
BROKER_BACKOFF = 5.0  # seconds without trying the broker after a failed send
IDEMPOTENCY_HEADER = "Idempotency-Key"
SUBMISSION_HEADERS = [
    {"in": "header", "name": IDEMPOTENCY_HEADER, "schema": {"type": "string", "maxLength": 255}},
    {
        "in": "header",
        "name": "Prefer",
        "schema": {"type": "string", "example": "wait=5"},
        "description": "RFC 7240 ``wait=N`` (N up to MAX_WAIT seconds): answer 200 with the job if it ends by then.",
    },
]


@blp.route("/graphs/<uuid:graph_id>/jobs", methods=["POST"])
@blp.arguments(JobSubmissionSchema, as_kwargs=False)
@blp.response(202, JobSchema, description="Accepted; Location names the job.")
@blp.alt_response(
    422, schema=ProblemSchema, description="Inputs that do not fit the graph, or a reused Idempotency-Key."
)
@blp.alt_response(200, schema=JobSchema, description="With Prefer: wait=N, the job ended within N seconds.")
@blp.doc(parameters=SUBMISSION_HEADERS)
def submit_job(data: dict[str, Any], graph_id: Any) -> Response:
    """Submit a job on a stored graph."""
    wait = preferred_wait()
    key, digest = _idempotency(str(graph_id))
    if (replay := _replay(key, digest, wait)) is not None:
        return replay
    graph_id = str(graph_id)
    plan = plan_cache().cached_for(graph_id, caller().tenant_id)  # a graph deleted since fails the insert: 404
    if plan is None and (plan := plan_cache().get(db(), tenant_graph_id(graph_id))) is None:
        raise not_found("graph")  # deleted between the two reads
    return _accept(graph_id, plan, data, key, digest, wait)


@blp.route("/jobs", methods=["POST"])
@blp.arguments(OneStepJobSchema, as_kwargs=False)
@blp.response(202, JobSchema, description="Accepted; the graph is stored and its id is in the job.")
@blp.alt_response(422, schema=ProblemSchema, description="An invalid definition or inputs.")
@blp.alt_response(200, schema=JobSchema, description="With Prefer: wait=N, the job ended within N seconds.")
@blp.doc(parameters=SUBMISSION_HEADERS)
def submit_graph_and_job(data: dict[str, Any]) -> Response:
    """Store a graph and submit a job on it, in one call."""
    wait = preferred_wait()
    key, digest = _idempotency("")
    if (replay := _replay(key, digest, wait)) is not None:
        return replay
    plan: Plan = data["graph"]
    bound = _bind(plan, data)
    graph = save_graph(db(), caller().tenant_id, plan)
    return _accept(graph.id, plan, data, key, digest, wait, bound)


def _idempotency(scope: str) -> tuple[str | None, str | None]:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None, None
    if not 1 <= len(key) <= 255:
        raise invalid([Problem(IDEMPOTENCY_HEADER, "must be 1 to 255 characters")], "request")
    digest = hashlib.sha256(scope.encode() + b"\n" + request.get_data(cache=True)).hexdigest()
    return key, digest


def _replay(key: str | None, digest: str | None, wait: int) -> Response | None:
    """The original job for a retried submission (waited for as asked); 422 if the key came with another body."""
    if key is None:
        return None
    job = job_reads.job_by_idempotency_key(db(), caller().tenant_id, key)
    if job is None:
        return None
    if job.request_hash != digest:
        raise invalid(
            [Problem(IDEMPOTENCY_HEADER, "was already used with a different request body; use a new key")], "request"
        )
    if wait and job.status not in TERMINAL_STATES:
        with extension("job_events").watch(job.id) as waiter:
            return _submission_answer(_wait_for_end(job.id, time.monotonic() + wait, waiter), wait, replayed=True)
    return _submission_answer(job, wait, replayed=True)


def _bind(plan: Plan, data: dict[str, Any]) -> JobInputs:
    try:
        return bind_inputs(plan, data["inputs"], data.get("output_grads"), settings().limits, data.get("tangents"))
    except InvalidInput as exc:
        raise invalid(exc.problems) from None


def _accept(
    graph_id: str,
    plan: Plan,
    data: dict[str, Any],
    key: str | None,
    digest: str | None,
    wait: int,
    bound: JobInputs | None = None,
) -> Response:
    """Commit the job row, then enqueue it (never inside the transaction: the worker would race the commit).

    With ``Prefer: wait``, the end of the job is watched for before it is sent, so no event is missed.
    """
    bound = bound or _bind(plan, data)
    ttl = _ttl(data)
    values = job_rows.new_job(caller().tenant_id, graph_id, bound, data["check_gradients"], key, digest, ttl)
    with extension("job_events").watch(values["id"]) if wait else nullcontext() as waiter:
        job = _insert_and_send(graph_id, values, key, digest)
        if isinstance(job, Response):  # a concurrent submission with the same key won: its answer
            return job
        if wait:  # just sent: sleep before the first read (the event wakes us if it is already done)
            job = _wait_for_end(job.id, time.monotonic() + wait, waiter, known=job)
        return _submission_answer(job, wait)


def _ttl(data: dict[str, Any]) -> int:
    """Seconds the job is kept once ended: JOB_TTL, or less if asked. :raise ApiProblem: 422 over JOB_TTL."""
    most = settings().job_ttl
    ttl = data.get("ttl_seconds", most)
    if ttl > most:
        raise invalid([Problem("ttl_seconds", f"{ttl} is over the limit JOB_TTL={most} seconds")])
    return ttl


def _insert_and_send(graph_id: str, values: dict[str, Any], key: str | None, digest: str | None) -> Job | Response:
    """The new job, committed and enqueued; or the answer of a concurrent submission with the same key.

    :raise ApiProblem: 429 when the caller's tenant has MAX_QUEUED_PER_TENANT jobs queued or running
        (a graph stored by the same request is then rolled back with the job).
    """
    most = settings().max_queued_per_tenant
    try:
        job = job_rows.insert_job(db(), values, room=most)
    except IntegrityError:  # the same Idempotency-Key submitted concurrently, or the graph deleted meanwhile
        db().rollback()
        if (replay := _replay(key, digest, 0)) is not None:
            return replay
        tenant_graph_id(graph_id)  # 404 if it is gone
        raise
    if job is None:
        raise queue_full(most)
    _enqueue(job)
    return job


def _enqueue(job: Job) -> None:
    """Send the job's message; if the broker is down, leave the job (safe in the database) to the sweeper.

    After a failed send this process does not try again for BROKER_BACKOFF seconds, so that
    during an outage each submission is answered at once instead of waiting out the timeouts.
    """
    state = current_app.extensions["gategraph"]
    if time.monotonic() < state.get("broker_down_until", 0.0):
        job_rows.clear_sent(db(), job.id)
        return
    try:
        send_job(extension("celery"), job.id, g.get("request_id"))
    except Exception:  # the job is safe in the database; the sweeper sends it later
        state["broker_down_until"] = time.monotonic() + BROKER_BACKOFF
        log.warning("could not enqueue job %s now; the sweeper will send it", job.id, exc_info=True)
        job_rows.clear_sent(db(), job.id)


def _submission_answer(job: Any, wait: int, replayed: bool = False) -> Response:
    """202 with the job; 200 when ``Prefer: wait`` was asked for and the job has ended."""
    headers = {"Location": f"/v1/jobs/{job.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if wait:
        headers["Vary"] = "Prefer"
        if job.status in TERMINAL_STATES:
            headers["Preference-Applied"] = f"wait={wait}"
            return json_response(_body(job), 200, headers)
    headers["Retry-After"] = RETRY_AFTER
    return json_response(_body(job), 202, headers)


def preferred_wait() -> int:
    """Seconds of ``Prefer: wait=N`` (RFC 7240), 0 without one. :raise ApiProblem: 422 malformed or over MAX_WAIT."""
    wait = prefer_wait(request.headers.getlist("Prefer"))
    if wait is None:
        return 0
    if isinstance(wait, str):
        raise invalid([Problem("Prefer", wait)], "request")
    if wait > settings().max_wait:
        raise invalid([Problem("Prefer", f"wait={wait} is over the limit MAX_WAIT={settings().max_wait}")], "request")
    return wait


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListArgsSchema, location="query", as_kwargs=False)
@blp.response(200, JobPageSchema)
def list_jobs(query: dict[str, Any]) -> Response:
    """The caller's jobs, newest first; filter by status and graph."""
    limit = page_limit(query)
    graph_id = str(query["graph_id"]) if "graph_id" in query else None
    jobs, more = job_reads.job_page(db(), caller().tenant_id, query.get("status"), graph_id, after_cursor(query), limit)
    return json_response(page_body(jobs, more, _bodies))


def _bodies(jobs: list[Any]) -> list[dict[str, Any]]:
    """Answers for jobs (ORM objects or rows), their outcomes read together."""
    return [
        job_body(job, outcome) for job, outcome in zip(jobs, job_reads.outcomes(db(), jobs, plan_cache()), strict=True)
    ]


def _body(job: Any) -> dict[str, Any]:
    return _bodies([job])[0]


@blp.route("/jobs/<uuid:job_id>", methods=["GET"])
@blp.arguments(WaitArgsSchema, location="query", as_kwargs=False)
@blp.response(200, JobSchema, description="While not terminal, with a Retry-After header.")
def get_job(query: dict[str, Any], job_id: Any) -> Response:
    """A job; ``?wait=N`` holds the answer until it ends or N seconds pass."""
    wait = query["wait"]
    if wait > settings().max_wait:
        raise invalid([Problem("wait", f"{wait:g} is over the limit MAX_WAIT={settings().max_wait}")], "query string")
    if not wait:
        job = tenant_job_row(job_id)
    else:
        with extension("job_events").watch(str(job_id)) as waiter:
            job = _wait_for_end(job_id, time.monotonic() + wait, waiter)
    headers = {} if job.status in TERMINAL_STATES else {"Retry-After": RETRY_AFTER}
    return json_response(_body(job), 200, headers)


def _wait_for_end(job_id: Any, deadline: float, waiter: Waiter, known: Any = None) -> Row:
    """The job once it has ended, or as it is at the deadline; its row is read again on each wake.

    ``known``: the job as the caller already has it (then not read before the first sleep).
    """
    job = known if known is not None else tenant_job_row(job_id)
    while job.status not in TERMINAL_STATES and (left := deadline - time.monotonic()) > 0:
        db().rollback()  # end the snapshot so the next read sees the worker's commits
        waiter.sleep(left)
        job = tenant_job_row(job_id)
    return job


@blp.route("/jobs/<uuid:job_id>/cancel", methods=["POST"])
@blp.response(200, JobSchema)
@blp.alt_response(409, schema=ProblemSchema, description="The job has already ended.")
def cancel_job(job_id: Any) -> Response:
    """Cancel a queued or running job."""
    job = tenant_job(job_id)
    ended = job_rows.cancel(db(), job.id)
    if ended is None:
        db().refresh(job)
        raise ApiProblem(
            409, "Conflict", f"the job has already ended ({job.status}); it cannot be canceled", type_="conflict"
        )
    announce_end(settings(), job.id, ended.deliveries, extension("celery"))
    db().refresh(job)
    return json_response(_body(job))


@blp.route("/jobs/<uuid:job_id>", methods=["DELETE"])
@blp.response(204)
def delete_job(job_id: Any) -> Response:
    """Delete a job and its results (a running job is stopped from storing them)."""
    job_rows.delete_job(db(), tenant_job(job_id).id)
    return Response(status=204)
