"""Whole workers killed with SIGKILL (main process and pool children at once), and runaway jobs.

The existing test kills only a pool child, which Celery notices and replaces. Here the
worker's machine is gone: nobody gives the message back, so another worker's sweeper must
notice the stale heartbeat, queue the job again and have it re-run, to success, stored once.
A runaway job must end with its time limit's reason while the worker stays up, and use no
more memory than the configured limits allow.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path
from typing import Self

from tests.e2e.test_jobs_through_a_worker import wait_for
from tests.oracle import exact
from tests.reliability.conftest import FaultStack, chain

#: A compute-heavy job: 400 gates of 5,000 inputs each (2 million edges) but few nodes, so
#: computing takes a while and storing is quick.
WIDE_GATES, WIDE_FAN = 400, 5_000


def wide(gates: int = WIDE_GATES, fan: int = WIDE_FAN) -> dict:
    """``gates`` sums of x and y (fan inputs each) summed into ``out`` = gates·fan/2·(x + y)."""
    sums = [{"id": f"w{i}", "op": "add", "inputs": ["x", "y"] * (fan // 2)} for i in range(gates)]
    return {
        "inputs": ["x", "y"],
        "gates": sums + [{"id": "out", "op": "add", "inputs": [f"w{i}" for i in range(gates)]}],
    }


def assert_wide_results(stack: FaultStack, job_id: str, xs: list[float], ys: list[float]) -> None:
    """Closed form of ``wide()``: out = G·F/2·(x + y); ∂out/∂x = ∂out/∂y = G·F/2; ∂out/∂w = 1."""
    half = WIDE_GATES * WIDE_FAN // 2
    out = stack.api.get(f"/v1/jobs/{job_id}/nodes/out").get_json()
    assert out["value"] == [half * (x + y) for x, y in zip(xs, ys, strict=True)]
    x = stack.api.get(f"/v1/jobs/{job_id}/nodes/x").get_json()
    assert x["grad"] == [float(half)] * len(xs)
    w = stack.api.get(f"/v1/jobs/{job_id}/nodes/w{WIDE_GATES - 1}").get_json()
    assert w["value"] == [WIDE_FAN // 2 * (x + y) for x, y in zip(xs, ys, strict=True)] and w["grad"] == [1.0] * len(xs)


def claimed_by(stack: FaultStack, job_id: str, attempt: int, seconds: float = 10):
    """The worker whose log says it claimed this attempt of the job (the "job claimed" line).

    The line is written just after the claim commits, so the row can say "running" a moment
    before the log does: look again for a while before giving up.
    """
    deadline = time.monotonic() + seconds
    while True:
        for worker in stack.workers:
            for line in worker.log.read_text().splitlines():
                if job_id in line and '"job claimed"' in line and json.loads(line).get("attempt") == attempt:
                    return worker
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker log shows attempt {attempt} of job {job_id}")
        time.sleep(0.005)


def kill_in_stage(stack: FaultStack, job_id: str, stages: tuple[str, ...], delay: float = 0.0) -> str | None:
    """Wait for the job to run in one of ``stages``, wait ``delay``, SIGKILL its whole worker; the stage it was in."""
    row = stack.wait_row(job_id, lambda r: r.status == "running" and r.stage in stages, seconds=90, step=0.005)
    time.sleep(delay)
    worker = claimed_by(stack, job_id, row.attempts)
    now = stack.job_row(job_id)
    stack.kill_worker(worker)
    return now.stage if now.status == "running" else now.status


def replace_in_background(stack: FaultStack) -> threading.Thread:
    """Start a new worker without waiting for it (a worker takes seconds to be ready)."""
    thread = threading.Thread(target=stack.start_worker)
    thread.start()
    return thread


def test_whole_worker_killed_mid_job_another_worker_reruns_it_stored_once(fault_stack):
    stack = fault_stack
    stack.start_workers(2)
    xs, ys = [float(i % 7 - 3) for i in range(3_000)], [0.5] * 3_000
    job = stack.api.post("/v1/jobs", json={"graph": wide(), "inputs": {"x": xs, "y": ys}}).get_json()
    assert kill_in_stage(stack, job["id"], ("computing",)) == "computing"

    done = wait_for(stack.api, job["id"], 120)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert claimed_by(stack, job["id"], 2).process.poll() is None  # the other worker
    assert stack.chunk_count(job["id"]) == -(-(WIDE_GATES + 3) // (16_384 // 3_000))  # every chunk once
    assert_wide_results(stack, job["id"], xs, ys)


def test_workers_killed_at_random_moments_lose_and_duplicate_nothing(fault_stack):
    """Kill the worker running each job at a random moment: while loading, computing, or writing results."""
    stack, rng = fault_stack, random.Random(20_240_611)
    stack.start_workers(2)
    deep, deep_batch = chain(20_000), 200  # storing 4 million cells takes longer than computing them
    deep_inputs = {"x": [float(b % 5) for b in range(deep_batch)], "y": [1.0] * deep_batch}
    deep_id = stack.api.post("/v1/graphs", json=deep).get_json()["id"]
    wide_id = stack.api.post("/v1/graphs", json=wide()).get_json()["id"]
    xs, ys = [1.0, -2.0, 0.25] * 1_000, [0.5] * 3_000
    jobs, killed_in, starters = [], [], []
    for round_ in range(6):
        kind = ("deep", "wide")[round_ % 2]
        graph_id, inputs = (deep_id, deep_inputs) if kind == "deep" else (wide_id, {"x": xs, "y": ys})
        job_id = stack.api.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": inputs}).get_json()["id"]
        jobs.append((kind, job_id))
        slow_stage = ("storing",) if kind == "deep" else ("computing",)  # long enough to be caught in
        stages = rng.choice([slow_stage, ("loading", "computing", "storing")])
        # Inside the slow stage the kill comes at once, or the stage may be over (a quick store on
        # an idle machine); anywhere else it comes at a random moment up to 0.3 s later.
        delay = rng.uniform(0, 0.02) if stages == slow_stage else rng.uniform(0, 0.3)
        killed_in.append(kill_in_stage(stack, job_id, stages, delay=delay))
        starters.append(replace_in_background(stack))
    print("killed in stages:", killed_in)
    assert "storing" in killed_in and "computing" in killed_in

    for kind, job_id in jobs:
        done = wait_for(stack.api, job_id, 120)
        assert done["status"] == "succeeded", done
        if kind == "deep":
            assert stack.chunk_count(job_id) == -(-20_002 // (16_384 // deep_batch))
            column = 3
            nodes = {n: stack.api.get(f"/v1/jobs/{job_id}/nodes/{n}").get_json() for n in ("x", "g0", "g19999")}
            api_column = {n: {"value": v["value"][column], "grad": v["grad"][column]} for n, v in nodes.items()}
            values, grads = exact(deep, {"x": deep_inputs["x"][column], "y": 1.0})
            assert api_column == {n: {"value": float(values[n]), "grad": float(grads[n])} for n in nodes}
        else:
            assert stack.chunk_count(job_id) == -(-(WIDE_GATES + 3) // (16_384 // 3_000))
            assert_wide_results(stack, job_id, xs, ys)
    for thread in starters:
        thread.join()


def test_a_job_whose_workers_keep_dying_fails_with_the_reason_after_max_attempts(fault_stack):
    stack = fault_stack
    stack.worker_env["MAX_ATTEMPTS"] = "2"
    stack.start_workers(2)
    job = stack.api.post(
        "/v1/jobs", json={"graph": wide(), "inputs": {"x": [1.0] * 3_000, "y": [1.0] * 3_000}}
    ).get_json()
    kill_in_stage(stack, job["id"], ("computing",))
    starter = replace_in_background(stack)
    stack.wait_row(job["id"], lambda r: r.attempts == 2 and r.status == "running", seconds=60, step=0.005)
    kill_in_stage(stack, job["id"], ("loading", "computing", "storing"))
    starter.join()
    done = wait_for(stack.api, job["id"], 60)
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost", done
    assert "stopped 2 times" in done["error"]["message"]


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process from /proc (VmRSS now, VmHWM its peak); 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """The largest resident size of any process of a worker (main or pool child), sampled from /proc."""

    def __init__(self, worker):
        self.worker, self.peak, self.pids = worker, 0, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            for pid in [self.worker.process.pid, *self.worker.children()]:
                self.pids.add(pid)
                self.peak = max(self.peak, rss_bytes(pid, "VmHWM"), rss_bytes(pid))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


#: Bytes a job may add to its worker per cell (node x batch column) allowed by MAX_CELLS:
#: values and gradients (8 bytes each), their stored copies, and the database driver's buffers.
BYTES_PER_CELL = 80
MAX_CELLS = 4_000_000


def test_a_runaway_job_at_the_limits_fails_on_its_time_limit_the_worker_lives_on_and_memory_is_bounded(fault_stack):
    stack = fault_stack
    api = stack.api_with(max_cells=MAX_CELLS)
    deep = chain(20_000)
    over = api.post("/v1/jobs", json={"graph": deep, "inputs": {"x": [1.0] * 200, "y": [1.0] * 200}})
    assert over.status_code == 422 and f"max_cells={MAX_CELLS}" in over.get_data(as_text=True).lower()

    # 1. The largest job the limits allow, in results: measured while it computes and stores.
    worker = stack.start_worker()
    baseline = max(rss_bytes(pid) for pid in [worker.process.pid, *worker.children()])
    batch = MAX_CELLS // 20_002
    inputs = {"x": [1.0] * batch, "y": [1.0] * batch}
    peaks = []
    for _ in range(2):  # twice: the second must need no more than the first (nothing kept from it)
        with PeakMemory(worker) as memory:
            job = api.post("/v1/jobs", json={"graph": deep, "inputs": inputs}).get_json()
            assert wait_for(api, job["id"], 120)["status"] == "succeeded"
        peaks.append(memory.peak)
    print(f"jobs at MAX_CELLS={MAX_CELLS}: worker peaks {[p >> 20 for p in peaks]} MiB, idle {baseline >> 20} MiB")
    assert peaks[0] - baseline < BYTES_PER_CELL * MAX_CELLS
    assert peaks[1] <= peaks[0] * 1.1
    worker.stop()

    # 2. A runaway: the most computing the limits allow in one kernel call, which no soft limit can interrupt.
    worker = stack.start_worker(JOB_SOFT_TIME_LIMIT="1", JOB_TIME_LIMIT="2")
    main_pid = worker.process.pid
    batch = MAX_CELLS // (WIDE_GATES + 3)
    with PeakMemory(worker) as memory:
        job = api.post(
            "/v1/jobs", json={"graph": wide(), "inputs": {"x": [1.0] * batch, "y": [1.0] * batch}}
        ).get_json()
        done = wait_for(api, job["id"], 60)
    assert done["status"] == "failed" and done["error"]["code"] == "time_limit", done
    assert "TIME_LIMIT" in done["error"]["message"]
    assert done["attempts"] == 1, "a job over its time limit must not be run again"
    assert memory.peak - baseline < BYTES_PER_CELL * MAX_CELLS
    assert worker.process.poll() is None and worker.process.pid == main_pid
    small = api.post("/v1/jobs", json={"graph": chain(10), "inputs": {"x": 1, "y": 1}}).get_json()
    assert wait_for(api, small["id"], 60)["status"] == "succeeded"  # a new pool child took over
