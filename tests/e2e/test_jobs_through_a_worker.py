"""Jobs submitted through the API and run by a real Celery worker process, on both stacks."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.api.helpers import node_pages
from tests.conftest import Client
from tests.oracle import exact


@pytest.fixture
def api(stack_app, keys) -> Client:
    return Client(stack_app.test_client(), keys["acme"])


def wait_for(api: Client, job_id: str, seconds: float = 60) -> dict:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = api.get(f"/v1/jobs/{job_id}?wait=5").get_json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body
    raise AssertionError(f"job {job_id} still {body['status']} after {seconds} s")


def all_nodes(api: Client, job_id: str) -> dict[str, dict]:
    return {n["id"]: n for n in node_pages(api, job_id, 5000)}


def test_worked_example(api, start_worker, example):
    start_worker()
    job = api.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    done = wait_for(api, job["id"])
    assert done["status"] == "succeeded" and done["outputs"] == example["expected"]["outputs"]
    nodes = all_nodes(api, job["id"])
    for nid, want in example["expected"]["nodes"].items():
        assert (nodes[nid]["kind"], nodes[nid]["value"], nodes[nid]["grad"]) == (
            want["kind"],
            want["value"],
            want["grad"],
        )


def layered_graph(seed: int) -> dict:
    """Three levels of random add/mul gates with fan-out and repeats, shallow so values stay exact."""
    rng = random.Random(seed)
    level, gates = ["a", "b", "c", "d"], []
    for depth, (width, ops) in enumerate([(20, ("add", "mul")), (20, ("add", "mul")), (10, ("add",))]):
        made = []
        for i in range(width):
            gid = f"l{depth}g{i}"
            gates.append(
                {"id": gid, "op": rng.choice(ops), "inputs": [rng.choice(level) for _ in range(rng.choice((2, 3)))]}
            )
            made.append(gid)
        level = made
    return {"inputs": ["a", "b", "c", "d"], "gates": gates}


def test_batch_job_matches_the_oracle_column_by_column(api, start_worker):
    start_worker()
    definition = layered_graph(seed=3)
    rng = np.random.default_rng(5)
    batch = {k: rng.integers(-2, 3, size=300).tolist() for k in definition["inputs"]}
    job = api.post("/v1/jobs", json={"graph": definition, "inputs": batch}).get_json()
    assert wait_for(api, job["id"])["status"] == "succeeded"
    nodes = all_nodes(api, job["id"])
    for b in (0, 17, 299):
        values, grads = exact(definition, {k: v[b] for k, v in batch.items()})
        for nid in values:
            assert nodes[nid]["value"][b] == pytest.approx(float(values[nid]), rel=1e-12), nid
            assert nodes[nid]["grad"][b] == pytest.approx(float(grads[nid]), rel=1e-12), nid


def test_many_concurrent_jobs_all_succeed(api, start_worker, example):
    start_worker()
    gid = api.post("/v1/graphs", json=example["graph"]).get_json()["id"]

    def one(i: int) -> dict:
        inputs = {"x": i, "y": 1, "z": 2}
        job = api.post(f"/v1/graphs/{gid}/jobs", json={"inputs": inputs}).get_json()
        return wait_for(api, job["id"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(40)))
    assert [r["outputs"]["f"] for r in results] == [float((i + 1) * 2) for i in range(40)]


def test_large_graph_job(api, start_worker):
    start_worker()
    n = 100_000
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}]
    gates += [{"id": f"g{i}", "op": "add", "inputs": [f"g{i - 1}", "y"]} for i in range(1, n)]
    job = api.post(
        "/v1/jobs", json={"graph": {"inputs": ["x", "y"], "gates": gates}, "inputs": {"x": 1, "y": 2}}
    ).get_json()
    done = wait_for(api, job["id"], 120)
    assert done["status"] == "succeeded" and done["outputs"] == {f"g{n - 1}": 1.0 + 2 * n}
    y = api.get(f"/v1/jobs/{job['id']}/nodes/y").get_json()
    assert y["grad"] == float(n)


def test_job_accepted_while_the_broker_was_unreachable_is_sent_by_the_sweeper(
    settings, make_app, keys, start_worker, example
):
    from dataclasses import replace

    cut_off = Client(make_app(replace(settings, broker_url="redis://127.0.0.1:1/0")).test_client(), keys["acme"])
    job = cut_off.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    assert job["status"] == "queued"
    start_worker()  # its sweeper finds the job that has no message, and sends one
    done = wait_for(cut_off, job["id"], 60)
    assert done["status"] == "succeeded" and done["outputs"] == {"f": -12.0}


def test_a_long_job_reports_its_stage_and_progress(api, start_worker):
    import time

    start_worker()
    n = 300_000
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}] + [
        {"id": f"g{i}", "op": "mul", "inputs": [f"g{i - 1}", "y"]} for i in range(1, n)
    ]
    job = api.post(
        "/v1/jobs", json={"graph": {"inputs": ["x", "y"], "gates": gates}, "inputs": {"x": 1, "y": 1}}
    ).get_json()
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = api.get(f"/v1/jobs/{job['id']}").get_json()
        if body["status"] == "running":
            assert body["stage"] in ("loading", "computing", "storing") and 0 <= body["progress"] < 1
            seen.add(body["stage"])
        if body["status"] == "succeeded":
            break
        time.sleep(0.02)
    assert body["status"] == "succeeded" and body["stage"] is None
    assert seen, "never saw the job running"
