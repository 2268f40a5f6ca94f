"""Faults injected for real: a worker child killed mid-job, a job over its time limit."""

from __future__ import annotations

import os
import signal
import time

import pytest

from service.storage.database import session_factory
from service.storage.models import Job, JobChunk
from tests.conftest import Client
from tests.e2e.test_jobs_through_a_worker import wait_for


@pytest.fixture
def api(stack_app, keys) -> Client:
    return Client(stack_app.test_client(), keys["acme"])


def big_chain(n: int) -> dict:
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}]
    gates += [{"id": f"g{i}", "op": "mul" if i % 3 == 0 else "add", "inputs": [f"g{i - 1}", "y"]} for i in range(1, n)]
    return {"inputs": ["x", "y"], "gates": gates}


def test_job_over_its_soft_time_limit_fails_with_the_reason_and_the_worker_lives_on(api, start_worker, example):
    start_worker(concurrency=1, JOB_SOFT_TIME_LIMIT="0.5", JOB_TIME_LIMIT="30")
    batch = {"x": [0.5] * 200, "y": [1.0] * 200}
    job = api.post("/v1/jobs", json={"graph": big_chain(90_000), "inputs": batch}).get_json()
    done = wait_for(api, job["id"], 120)
    assert done["status"] == "failed" and done["error"]["code"] == "time_limit"
    assert "JOB_SOFT_TIME_LIMIT" in done["error"]["message"]
    small = api.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    small_done = wait_for(api, small["id"])
    assert small_done["status"] == "succeeded", small_done["error"]


def test_worker_child_killed_mid_job_is_rerun_to_success_and_stored_once(api, start_worker, settings):
    worker = start_worker(concurrency=1)
    n = 300_000
    # a batch of 32 makes the job seconds long, so that it is surely killed while it runs
    job = api.post("/v1/jobs", json={"graph": big_chain(n), "inputs": {"x": [1.0] * 32, "y": [1.0] * 32}}).get_json()
    sessions = session_factory(settings.database_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sessions() as session:
            if session.get(Job, job["id"]).status == "running":
                break
        time.sleep(0.02)
    children = worker.children()
    assert children, "the worker has no pool child"
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    done = wait_for(api, job["id"], 120)
    assert done["status"] == "succeeded", done
    assert done["attempts"] >= 2
    with sessions() as session:
        chunks = session.query(JobChunk).filter(JobChunk.job_id == job["id"]).count()
    assert chunks == -(-(n + 2) // (16_384 // 32))  # every chunk once: no duplicates from the killed attempt
    last = api.get(f"/v1/jobs/{job['id']}/nodes/g{n - 1}").get_json()
    assert last["grad"] == [1.0] * 32 and last["value"] == done["outputs"][f"g{n - 1}"]
