"""Fixtures of the fault tests: private Redis and PostgreSQL servers a test may stop and start.

The machine's Redis and PostgreSQL serve other people's tests, so faults are injected only
into servers started here: a ``redis-server`` that keeps nothing on disk (a restart empties
it, as in production without persistence) and a throwaway PostgreSQL cluster made with
initdb. ``fault_stack`` puts them together with the API (Flask's test client) and real
worker processes, without the session-wide ``database_url`` parametrization.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
import pytest
import redis

from service.runtime.config import Settings
from service.storage.database import get_engine, session_factory
from service.storage.migrate import upgrade
from service.storage.models import Job, JobChunk
from tests.conftest import TEST_RATE_LIMIT, Client, empty_tables
from tests.e2e.conftest import FAST_RECOVERY, WorkerProcess, broker_url, stack_app, start_worker, worker_env  # noqa: F401 - fixtures shared with e2e, found by pytest by name

REDIS_SERVER = "/usr/bin/redis-server"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
TERMINAL = ("succeeded", "failed", "canceled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own on a fixed port, so clients reconnect to the same URL after a restart."""

    def __init__(self, workdir: Path):
        self.workdir, self.port = workdir, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        command = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        self.process = subprocess.Popen(command, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"private redis-server did not start; see {self.workdir / 'redis.log'}")

    def stop(self) -> None:
        """Kill it: everything it held (queued messages, bindings) is gone."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, like a partition or a hung host."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def queue_length(self, queue: str) -> int:
        return redis.Redis.from_url(self.url).llen(queue)

    def wait_acked(self, seconds: float = 30) -> None:
        """Until no delivered message waits for its acknowledgement (kombu keeps them in the ``unacked`` hash).

        A worker acknowledges a message just after the job's answer is out, so a client can see
        a job succeed before its ack. Stopping Redis in between hits a kombu bug: the worker
        exits with "Unrecoverable error: AttributeError ... 'hostname'" while restoring the
        unacked message (a supervisor restarts it; nothing is lost: the job is in the database).
        """
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + seconds
        while client.hlen("unacked") and time.monotonic() < deadline:
            time.sleep(0.01)


class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster (trust auth, no fsync) in a directory under /tmp."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="gategraph-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data, self.log, self.port = self.root / "data", self.root / "server.log", free_port()
        self._as_postgres(
            PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        self.start()

    def _as_postgres(self, *command) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)], check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        status = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return status.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


def chain(n: int) -> dict:
    """A chain of n add/mul gates reading x and y: deep, and exact in float64 at x = y = 1."""
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}]
    gates += [{"id": f"g{i}", "op": "mul" if i % 3 == 0 else "add", "inputs": [f"g{i - 1}", "y"]} for i in range(1, n)]
    return {"inputs": ["x", "y"], "gates": gates}


@pytest.fixture(scope="session")
def private_pg() -> PrivatePostgres:
    server = PrivatePostgres()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def private_pg_url(private_pg) -> str:
    """A migrated database on the private cluster, emptied by each test that uses it."""
    url = private_pg.create_database("gategraph_faults")
    upgrade(url)
    yield url
    get_engine(url).dispose()


@pytest.fixture(scope="session")
def private_sqlite_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('faults-db') / 'gategraph.sqlite'}"
    upgrade(url)
    return url


@pytest.fixture
def private_redis(tmp_path) -> PrivateRedis:
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


@dataclass
class FaultStack:
    """The API, the worker processes and the servers behind them, for one test."""

    settings: Settings
    redis: PrivateRedis
    pg: PrivatePostgres | None
    api: Client
    tmp_path: Path
    worker_env: dict[str, str]
    make_app: Callable
    workers: list[WorkerProcess] = field(default_factory=list)

    def api_with(self, **changes) -> Client:
        """Another API on the same stack, with some settings changed (limits, for instance)."""
        return Client(self.make_app(replace(self.settings, **changes)).test_client(), self.api.key)

    def start_worker(self, concurrency: int = 1, **extra_env: str) -> WorkerProcess:
        log = self.tmp_path / f"worker{len(self.workers)}-{uuid.uuid4().hex[:6]}.log"
        worker = WorkerProcess({**self.worker_env, **extra_env}, log, concurrency)
        self.workers.append(worker)
        return worker

    def start_workers(self, count: int, concurrency: int = 1, **extra_env: str) -> list[WorkerProcess]:
        """Start ``count`` workers at once (each takes seconds to be ready)."""
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda _: self.start_worker(concurrency, **extra_env), range(count)))

    def kill_worker(self, worker: WorkerProcess) -> None:
        """SIGKILL the whole worker (main process and pool children at once), as a lost machine."""
        try:
            os.killpg(worker.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.process.wait()

    def job_row(self, job_id: str) -> Job | None:
        with session_factory(self.settings.database_url)() as session:
            return session.get(Job, job_id)

    def wait_row(self, job_id: str, predicate, seconds: float = 60, step: float = 0.01) -> Job:
        """Poll the job's row until ``predicate(row)``; :raise AssertionError: after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            row = self.job_row(job_id)
            if row is not None and predicate(row):
                return row
            time.sleep(step)
        raise AssertionError(f"job {job_id} never reached the expected state; last: {row and (row.status, row.stage)}")

    def chunk_count(self, job_id: str) -> int:
        with session_factory(self.settings.database_url)() as session:
            return session.query(JobChunk).filter(JobChunk.job_id == job_id).count()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def _database(request, which: str) -> str:
    url = request.getfixturevalue("private_pg_url" if which == "postgresql" else "private_sqlite_url")
    empty_tables(url)
    return url


@pytest.fixture
def fault_stack(request, private_redis, tmp_path, make_app) -> FaultStack:
    """A private Redis, a database (``request.param``: "postgresql" on the private cluster, or "sqlite"), the API."""
    from service.storage.keys import create_key

    which = getattr(request, "param", "postgresql")
    url = _database(request, which)
    settings = Settings(
        home=str(tmp_path),
        database_url=url,
        broker_url=private_redis.url,
        queue=f"faults-{uuid.uuid4().hex[:8]}",
        stage_report_after=0.0,
        rate_limit=TEST_RATE_LIMIT,
    )
    with session_factory(url)() as session:
        key = create_key(session, "acme")
    app = make_app(settings)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BROKER_URL": private_redis.url,
        "QUEUE": settings.queue,
        "GATEGRAPH_HOME": str(tmp_path),
        **FAST_RECOVERY,
        "STAGE_REPORT_AFTER": "0",  # the fault tests strike in a given stage: every stage must show
    }
    pg = request.getfixturevalue("private_pg") if which == "postgresql" else None
    stack = FaultStack(settings, private_redis, pg, Client(app.test_client(), key), tmp_path, env, make_app)
    yield stack
    stack.stop()
    if pg is not None and not pg.running():  # a test that failed while its database was down
        pg.start()
