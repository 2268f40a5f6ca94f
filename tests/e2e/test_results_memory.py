"""/results streams: the API process (real gunicorn) stays within a bounded memory while it sends 2·10^7 numbers.

The resident set of the gunicorn worker is read from /proc while the answer streams; the client
reads it batch by batch (Arrow) or line by line (NDJSON) and keeps none of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
import requests

from tests.e2e.test_serve import free_port

NODES, BATCH = 10_000, 1_000  # 2·10^7 values and gradients
MIB = 1 << 20


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Peak:
    """The largest resident set of a process, sampled every 20 ms until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.done = pid, rss_bytes(pid), threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


@pytest.fixture
def gunicorn(worker_env, tmp_path):
    """The API under gunicorn, one worker process (the one measured)."""
    port, pid_file = free_port(), tmp_path / "gunicorn.pid"
    command = [sys.executable, "-m", "gunicorn", "service.wsgi:app", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "1", "--worker-class", "gthread", "--threads", "4", "--pid", str(pid_file)]
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(command, env=worker_env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=1)
            break
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still importing the app
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    yield url, int(children[0])
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    process.wait(timeout=30)


def wide_batch_job(url: str, key: str) -> str:
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}]
    gates += [{"id": f"g{i}", "op": "add", "inputs": [f"g{i - 1}", "x" if i % 2 else "y"]} for i in range(1, NODES - 2)]
    inputs = {"x": [0.001 * b for b in range(BATCH)], "y": [1.0] * BATCH}
    headers = {"Authorization": f"Bearer {key}", "Prefer": "wait=30"}
    r = requests.post(
        f"{url}/v1/jobs", json={"graph": {"inputs": ["x", "y"], "gates": gates}, "inputs": inputs}, headers=headers
    )
    job = r.json()
    while job["status"] in ("queued", "running"):
        job = requests.get(f"{url}/v1/jobs/{job['id']}?wait=10", headers=headers).json()
    assert job["status"] == "succeeded", job
    return job["id"]


@pytest.mark.slow
def test_streaming_2e7_numbers_holds_memory_bounded(gunicorn, keys, start_worker, example):
    url, api_pid = gunicorn
    start_worker()
    job = wide_batch_job(url, keys["acme"])
    auth = {"Authorization": f"Bearer {keys['acme']}"}
    small = requests.post(
        f"{url}/v1/jobs",
        json={"graph": example["graph"], "inputs": example["inputs"]},
        headers={**auth, "Prefer": "wait=30"},
    ).json()
    for accept in ("application/vnd.apache.arrow.stream", "application/x-ndjson"):
        requests.get(f"{url}/v1/jobs/{small['id']}/results", headers={**auth, "Accept": accept}).raise_for_status()
    for accept in ("application/vnd.apache.arrow.stream", "application/x-ndjson"):
        before = rss_bytes(api_pid)
        peak = Peak(api_pid)
        started = time.monotonic()
        with requests.get(f"{url}/v1/jobs/{job}/results", headers={**auth, "Accept": accept}, stream=True) as r:
            r.raise_for_status()
            r.raw.decode_content = True
            if accept.endswith("arrow.stream"):
                rows = sum(batch.num_rows for batch in pa.ipc.open_stream(r.raw))
            else:
                rows = sum(chunk.count(b"\n") for chunk in r.iter_content(1 << 20))
        grown = peak.stop() - before
        took = time.monotonic() - started
        print(
            f"{accept}: {rows} nodes x {BATCH} in {took:.1f} s; API RSS {before / MIB:.0f} MiB, +{grown / MIB:.1f} MiB"
        )
        assert rows == NODES
        assert grown < 100 * MIB
