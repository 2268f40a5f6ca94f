"""``Prefer: wait=N`` on both submission routes, with a real Celery worker: one round trip for a fast job."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.api.helpers import assert_problem
from tests.conftest import Client
from tests.reliability.test_worker_faults import big_chain


@pytest.fixture
def api(stack_app, keys) -> Client:
    return Client(stack_app.test_client(), keys["acme"])


def test_a_fast_job_is_answered_200_when_it_ends(api, start_worker, example):
    start_worker()
    one_step = {"graph": example["graph"], "inputs": example["inputs"]}
    r = api.post("/v1/jobs", json=one_step, headers={"Prefer": "wait=20"})
    assert r.status_code == 200, r.get_json()
    assert r.headers["Preference-Applied"] == "wait=20" and "Retry-After" not in r.headers
    body = r.get_json()
    assert body["status"] == "succeeded" and body["outputs"] == example["expected"]["outputs"]
    assert r.headers["Location"] == f"/v1/jobs/{body['id']}"
    two_step = api.post(
        f"/v1/graphs/{body['graph_id']}/jobs",
        json={"inputs": example["inputs"]},
        headers={"Prefer": "respond-async, wait=20"},
    )
    assert two_step.status_code == 200 and two_step.get_json()["status"] == "succeeded"
    assert two_step.headers["Preference-Applied"] == "wait=20"


def test_a_job_still_queued_after_n_seconds_is_the_usual_202(api, example):
    """No worker runs: the job cannot end, so the answer comes after about N seconds, as a 202."""
    started = time.monotonic()
    r = api.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers={"Prefer": "wait=1"}
    )
    took = time.monotonic() - started
    assert r.status_code == 202 and r.get_json()["status"] == "queued"
    assert "Preference-Applied" not in r.headers and r.headers["Retry-After"] == "1"
    print(f"202 after {took:.2f} s of Prefer: wait=1")
    assert 0.9 <= took < 10


def test_a_failing_job_is_answered_200_with_its_reason(api, start_worker):
    start_worker(concurrency=1, JOB_SOFT_TIME_LIMIT="0.5", JOB_TIME_LIMIT="30")
    batch = {"x": [0.5] * 200, "y": [1.0] * 200}
    r = api.post("/v1/jobs", json={"graph": big_chain(90_000), "inputs": batch}, headers={"Prefer": "wait=30"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "time_limit"


def test_an_idempotent_replay_waits_too(api, start_worker, example):
    request = {"graph": example["graph"], "inputs": example["inputs"]}
    key = str(uuid.uuid4())
    first = api.post("/v1/jobs", json=request, headers={"Idempotency-Key": key, "Prefer": "wait=1"})
    assert first.status_code == 202  # no worker yet
    start_worker()
    again = api.post("/v1/jobs", json=request, headers={"Idempotency-Key": key, "Prefer": "wait=20"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Preference-Applied"] == "wait=20"
    assert again.get_json()["id"] == first.get_json()["id"] and again.get_json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("prefer", "message"),
    [("wait=abc", "whole number of seconds"), ("wait=-1", "whole number"), ("wait=31", "MAX_WAIT=30")],
)
def test_a_bad_wait_preference_is_422_naming_it(api, example, prefer, message):
    r = api.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers={"Prefer": prefer})
    body = assert_problem(r, 422, message)
    assert body["errors"][0]["path"] == "Prefer"
