"""PostgreSQL faults, injected into a private cluster while real workers run jobs.

The workers must ride out a restart (reconnect, retry what failed), the API must say so
(/readyz 503, submissions 503 with Retry-After), and no job may stay ``running`` once the
database is back: the attempt that lost its connection is retried (or failed with a reason).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.test_jobs_through_a_worker import wait_for
from tests.oracle import exact
from tests.reliability.conftest import chain

N_GATES, BATCH = 60_000, 20  # a results write of 1.2 million cells takes long enough to be cut by a restart


def wait_ready(stack, status: int, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = stack.api.raw.get("/readyz")
        if answer.status_code == status:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"/readyz never answered {status}; last: {answer.status_code} {answer.get_json()}")


def test_postgres_restarted_and_down_while_workers_run_jobs(fault_stack):
    stack, definition = fault_stack, chain(N_GATES)
    workers = stack.start_workers(2)
    graph_id = stack.api.post("/v1/graphs", json=definition).get_json()["id"]

    def submit(k: int) -> str:
        response = stack.api.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": [k] * BATCH, "y": [1] * BATCH}})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    with ThreadPoolExecutor(4) as pool:
        jobs = dict(zip(range(1, 9), pool.map(submit, range(1, 9)), strict=True))

    # 1. A quick restart while a job writes its results.
    stack.wait_row(jobs[1], lambda row: row.status == "running" and row.stage == "storing", step=0.005)
    stack.pg.restart("fast")

    # 2. A longer outage, longer than STALE_RUNNING_AFTER: heartbeats and claims fail meanwhile.
    stack.wait_row(jobs[4], lambda row: row.status in ("running", "succeeded"), seconds=90)
    stack.pg.stop("fast")
    ready = stack.api.raw.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.get_json()["checks"]["database"].startswith("unreachable")
    refused = stack.api.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": 0, "y": 1}})
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert refused.mimetype == "application/problem+json"
    time.sleep(6)
    stack.pg.start()
    wait_ready(stack, 200)

    jobs[9] = submit(9)  # and new work is taken as before
    last = f"g{N_GATES - 1}"
    for job_id in jobs.values():
        done = wait_for(stack.api, job_id, 120)
        assert done["status"] == "succeeded", done
        assert stack.chunk_count(job_id) == -(-(N_GATES + 2) // (16_384 // BATCH))  # stored once
    for k in (1, 4):  # the jobs the faults hit
        values, grads = exact(definition, {"x": k, "y": 1})
        for node_id in ("x", "y", "g0", "g1000", last):
            node = stack.api.get(f"/v1/jobs/{jobs[k]}/nodes/{node_id}").get_json()
            assert node["value"] == [float(values[node_id])] * BATCH and node["grad"] == [float(grads[node_id])] * BATCH
    outputs = [wait_for(stack.api, jobs[k])["outputs"][last][0] for k in jobs]
    assert outputs == [outputs[0] + k - 1 for k in jobs]  # with y = 1 every gate adds or keeps x
    assert all(w.process.poll() is None for w in workers), "a worker exited instead of reconnecting"
    print("attempts per job:", [stack.job_row(j).attempts for j in jobs.values()])
