"""Redis faults, injected into a private redis-server: stopped while clients submit, restarted empty.

Every accepted job is in the database before its message is sent, so the broker may lose
anything: a submission made while Redis is down is either refused (503 with Retry-After)
or accepted and sent later by the sweeper, and a queue emptied by a restart is sent again.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.test_jobs_through_a_worker import wait_for
from tests.oracle import exact

both_stacks = pytest.mark.parametrize("fault_stack", ["postgresql", "sqlite"], indirect=True)

#: Longest a submission may take while Redis is down: a refusal or an acceptance, never a hang.
ANSWER_WITHIN = 10.0


def submit_many(stack, graph: dict, numbers: range) -> dict[int, str]:
    """Submit from four client threads at once; every answer is quick, and 202 or 503 with Retry-After."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: (i, *submit(stack, graph, i)), numbers))
    accepted = {}
    for i, status, headers, body, seconds in answers:
        assert seconds < ANSWER_WITHIN, f"a submission took {seconds:.1f} s with Redis down"
        assert status in (202, 503), body
        if status == 503:
            assert headers.get("Retry-After"), headers
        else:
            accepted[i] = body["id"]
    assert accepted, "every submission was refused; the API should accept into the database"
    return accepted


def submit(stack, graph: dict, i: int) -> tuple[int, dict, dict, float]:
    """One submission of the circuit at x = i; (status, headers, body, seconds it took)."""
    started = time.monotonic()
    response = stack.api.post("/v1/jobs", json={"graph": graph, "inputs": {"x": i, "y": 1, "z": 2}})
    return response.status_code, dict(response.headers), response.get_json(), time.monotonic() - started


def assert_all_correct(stack, graph: dict, accepted: dict[int, str], seconds: float = 90) -> None:
    for i, job_id in accepted.items():
        done = wait_for(stack.api, job_id, seconds)
        assert done["status"] == "succeeded", done
        values, _ = exact(graph, {"x": i, "y": 1, "z": 2})
        assert done["outputs"] == {"f": float(values["f"])}


@both_stacks
def test_submissions_while_redis_is_down_are_refused_or_completed_once_it_is_back(fault_stack, example):
    stack, graph = fault_stack, example["graph"]
    worker = stack.start_worker(concurrency=2)
    status, _, first, _ = submit(stack, graph, 0)
    assert status == 202 and wait_for(stack.api, first["id"])["status"] == "succeeded"

    stack.redis.wait_acked()  # see wait_acked: this test is about a worker idle when Redis goes
    stack.redis.stop()
    ready = stack.api.raw.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.get_json()["checks"]["broker"].startswith("unreachable")
    accepted = submit_many(stack, graph, range(1, 21))
    rows = [stack.job_row(j) for j in accepted.values()]
    assert {(row.status, row.enqueued_at) for row in rows} == {("queued", None)}  # kept, for the sweeper to send

    stack.redis.start()
    assert_all_correct(stack, graph, accepted)
    assert worker.process.poll() is None, "the worker should reconnect, not exit"
    status, _, after, _ = submit(stack, graph, 99)  # the same worker takes new work
    assert status == 202 and wait_for(stack.api, after["id"])["outputs"] == {"f": 200.0}
    assert stack.api.raw.get("/readyz").status_code == 200


@pytest.mark.parametrize("fault_stack", ["postgresql"], indirect=True)
def test_jobs_queued_when_redis_restarts_empty_are_sent_again_by_the_sweeper(fault_stack, example):
    stack, graph = fault_stack, example["graph"]
    accepted = {}
    for i in range(10):  # no worker yet: the messages wait in Redis
        status, _, body, _ = submit(stack, graph, i)
        assert status == 202
        accepted[i] = body["id"]
    assert stack.redis.queue_length(stack.settings.queue) == 10
    assert all(stack.job_row(j).enqueued_at is not None for j in accepted.values())

    stack.redis.restart()  # nothing on disk: the ten messages are gone
    assert stack.redis.queue_length(stack.settings.queue) == 0
    for i in range(10, 15):  # the API's pooled connections died with the server; new submissions still get through
        status, _, body, _ = submit(stack, graph, i)
        assert status == 202
        accepted[i] = body["id"]

    stack.start_worker(concurrency=2)
    assert_all_correct(stack, graph, accepted)


@pytest.mark.parametrize("fault_stack", ["postgresql"], indirect=True)
def test_a_frozen_redis_does_not_hold_submissions_and_they_complete_when_it_answers_again(fault_stack, example):
    stack, graph = fault_stack, example["graph"]
    stack.start_worker()
    status, _, first, _ = submit(stack, graph, 0)
    assert status == 202 and wait_for(stack.api, first["id"])["status"] == "succeeded"

    stack.redis.freeze()  # open connections, no answers: only timeouts can tell
    try:
        accepted = submit_many(stack, graph, range(1, 11))
        started = time.monotonic()
        ready = stack.api.raw.get("/readyz")
        assert ready.status_code == 503 and time.monotonic() - started < ANSWER_WITHIN
    finally:
        stack.redis.thaw()
    assert_all_correct(stack, graph, accepted)
