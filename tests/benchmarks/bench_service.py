"""Benchmark of the whole service: the real API (gunicorn), a real Celery worker, Redis and the database.

    python -m tests.benchmarks.bench_service                       # PostgreSQL, 10^6-gate graph (~2 min, ~1.1 GiB here)
    python -m tests.benchmarks.bench_service --quick               # 10^4-gate graph, fewer small jobs (~20 s)
    python -m tests.benchmarks.bench_service --database sqlite     # the embedded default's database

One command starts everything it measures and stops it on every way out (an exception, Ctrl-C,
SIGTERM): a fresh database (PostgreSQL: ``gategraph_bench``, dropped and created through the
``postgres`` database; SQLite: a file in a temporary directory), ``gategraph db upgrade``,
``gategraph keys create``, gunicorn (2 gthread workers x 8 threads, stopped through its
``--pid`` file and its process group), the service's Celery worker (concurrency 2) and a second
Celery worker for the empty-task baseline, both on the machine's Redis (``redis://127.0.0.1:6379/7``)
with queue names unique to the run. Redis keys of those queues are deleted at the end.

What is measured, each beside a baseline measured in the same run:

* Small jobs. N client threads (default 8), each with its own ``requests.Session``, submit the
  worked example (cs231n) on a graph created once, in two ways: two round trips (``POST
  /v1/graphs/{id}/jobs``, then ``GET /v1/jobs/{id}?wait=5`` until the job ends) and one (the same
  POST with ``Prefer: wait=10``, answered 200 with the ended job; a 202 is followed by ``GET
  ?wait=5`` and counted); latency is submit -> the answer saying ``succeeded`` (the output is
  checked). Baseline: an empty Celery task (``bench.empty``, on its own app and worker, same
  broker, same concurrency, same acks_late/prefetch settings) sent by the same number of threads;
  its completion signal is an ``RPUSH`` to a per-task Redis key that the client waits on with
  ``BLPOP`` (no result backend), so its latency is send -> done. The three alternate twice and the
  best round of each is used (the machine is noisy); the CPU time each process group used per job
  is printed beside (less sensitive to other load than wall times). Unloaded latency: one client
  thread, 30 sequential jobs of each kind and 30 empty tasks, p50 of each.
* One big graph (10^6 gates; 10^4 with --quick): a wide random binary DAG (each gate reads an
  earlier node uniformly at random, and a second one: any earlier node for ``add``, an input
  for ``mul``), n/10 inputs in (0.9, 1.1), so values stay finite (checked). Stages, timed by
  the client: upload + validation (``POST /v1/graphs``); the job (``POST .../jobs`` then
  ``GET /v1/jobs/{id}?wait=30``; the worker's own stage timings, loading, computing, storing,
  come from its JSON log line "job succeeded"; the job's timestamps are printed too); reading
  every node back through ``GET /v1/jobs/{id}/nodes?limit=10000`` following ``next_cursor``
  (answers parsed with orjson; every id, value and gradient is compared, untimed, with an
  in-process evaluation of the same definition), then through ``GET /v1/jobs/{id}/results`` as an
  Arrow IPC stream (request -> ``read_all`` -> value and grad columns as NumPy arrays; ids stay an
  Arrow column; checked like the pages), three times (the first is the one the whole job counts,
  the best is compared with the floor). The floor: ``service.storage.result_chunks.read_results``
  of every node of the same job, in-process on the same database (best of 3); for reference, the
  in-process ``result_blocks`` iteration (ids too), the same blocks through the service's
  ``ArrowEncoder``, and the GET reading the bytes only (no Arrow parsing). Baselines: a binary COPY of 10^6 (job, node,
  value, grad) rows into a temporary table (SQLite: ``executemany`` into a table of a scratch
  file with the service's pragmas), ``json.loads`` of the definition text and ``json.dumps`` of
  10^6 node items (stdlib json). The results write is timed in-process by calling
  ``service.storage.job_rows.succeed`` on the same database with the 10^6-node job's arrays and
  its output values, as the worker does (the worker's "storing" stage is that call plus the
  contention of a live stack), and once more with no output values (the result chunks
  alone). Peak RSS of each process group is sampled during this part. The whole job is timed two
  ways against the sum of the three baselines: upload -> last page of ``/nodes`` read (wall), and
  upload + job + the first Arrow read of ``/results``.
* A batch job (10^4 nodes x B = 1,000; --quick: 10^3 x 1,000): the first 9,091 gates of the same
  kind of wide random DAG (909 inputs), each input B numbers in (0.9, 1.1), submitted once with
  ``Prefer: wait=30``, read back in alternation through paged ``/nodes?limit=10000`` (the service
  caps a page at MAX_PAGE_NUMBERS, 500 nodes at B = 1,000; request + orjson parse timed, the copy
  into arrays not) and through ``/results`` as Arrow (request -> NumPy (n, B) arrays), twice each,
  best of each compared; the Arrow numbers are checked, untimed, to equal the JSON ones. The same
  reference reads as for the big job (in-process read_results, result_blocks, ArrowEncoder; bytes
  only over HTTP) are printed beside, with the job's timestamps.

The command exits 0 whether the targets are met or not (a benchmark, not a test); a missed target
prints MISS in the final block. It exits 1 only when the stack fails (logs are then printed).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import redis
import requests
from celery import Celery

from tests.benchmarks.report import commit, version
from tests.benchmarks.report import num as _num
from tests.benchmarks.report import table as _table

ROOT = Path(__file__).resolve().parents[2]
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
BROKER_DB = 7  # a spare Redis database: the tests use 0
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "gategraph_bench"
SEED = 20261126
TERMINAL = ("succeeded", "failed", "canceled")
CS231N = (
    json.loads((ROOT.parent / "shared" / "examples" / "cs231n.json").read_text())
    if (ROOT.parent / "shared" / "examples" / "cs231n.json").exists()
    else {
        "graph": {
            "name": "cs231n-circuit",
            "inputs": ["x", "y", "z"],
            "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}],
            "outputs": ["f"],
        },
        "inputs": {"x": -2, "y": 5, "z": -4},
        "expected": {"outputs": {"f": -12.0}},
    }
)

# Targets (ratios against the baselines of the same run).
TARGET_SMALL_THROUGHPUT = 0.25  # service jobs/s / empty tasks/s, at least
TARGET_STORE_VS_COPY = 1.5  # succeed() / binary COPY of 10^6 rows, at most
TARGET_WHOLE_VS_BASELINES = 5.0  # upload -> last node read / (COPY + json.loads + json.dumps), at most
TARGET_WAIT_THROUGHPUT = 0.25  # jobs/s submitted with Prefer: wait / empty tasks/s, at least
TARGET_BATCH_ARROW_SPEEDUP = 20.0  # batch job: paged /nodes seconds / Arrow /results seconds, at least
TARGET_ARROW_VS_FLOOR = 2.0  # 10^6-gate job: Arrow /results / in-process read_results of the chunks, at most
TARGET_WHOLE_ARROW_VS_BASELINES = 2.0  # upload + job + Arrow read / (COPY + json.loads + json.dumps), at most
TARGET_B_P99_UNDER_LOAD = 1.5  # seconds: tenant B's small jobs, submission to succeeded, with A saturating
TARGET_A_THROUGHPUT_SHARE = 0.9  # tenant A's jobs/s beside B / A's jobs/s alone, at least
TARGET_UPLOAD_VS_LOCAL = 1.5  # POST /v1/graphs of the big graph / in-process loads + load_graph of its text, at most
# The limiter counts every request, as in production, at a rate no client here reaches.
BENCH_RATE_LIMIT = {"RATE_LIMIT": "1000/second", "RATE_LIMIT_BURST": "1000"}
ARROW = "application/vnd.apache.arrow.stream"

# --------------------------------------------------------------------------- the empty-task baseline
# The baseline worker runs `celery -A tests.benchmarks.bench_service:empty_app worker`: it imports
# this module, so its top level stays free of side effects. Its settings are the service's
# (worker/app.py) where they apply to one task: late acks, prefetch 1, JSON, no result backend.

EMPTY_TASK = "bench.empty"
empty_app = Celery(
    "bench_empty", broker=os.environ.get("BROKER_URL", f"{REDIS_BASE}/{BROKER_DB}"), set_as_current=False
)
empty_app.conf.update(
    task_default_queue=os.environ.get("QUEUE", "bench-empty"),
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    result_backend=None,
    broker_transport_options={"visibility_timeout": 600, "socket_connect_timeout": 2},
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)
_done: dict[int, redis.Redis] = {}


@empty_app.task(name=EMPTY_TASK)
def empty_task(done_key: str) -> None:
    """Nothing, then say so: one RPUSH (with an expiry, in one round trip) that the client BLPOPs."""
    client = _done.get(os.getpid())
    if client is None:  # one connection pool per (forked) worker child
        client = _done[os.getpid()] = redis.Redis.from_url(os.environ.get("BENCH_DONE_URL", empty_app.conf.broker_url))
    pipe = client.pipeline(transaction=False)
    pipe.rpush(done_key, 1)
    pipe.expire(done_key, 120)
    pipe.execute()


# --------------------------------------------------------------------------- processes


class StackError(RuntimeError):
    pass


class Stack:
    """Child processes, each in its own session (process group), stopped in reverse order, whatever happens."""

    def __init__(self, tmp: Path, root: Path = ROOT):
        self.tmp, self.root = tmp, root
        self.children: list[tuple[str, subprocess.Popen, Path, Path | None]] = []

    def start(
        self, name: str, command: list[str], env: dict[str, str], pid_file: Path | None = None
    ) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.children.append((name, process, log, pid_file))
        return process

    def check(self) -> None:
        for name, process, log, _ in self.children:
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}:\n{tail(log)}")

    def groups(self) -> dict[str, int]:
        return {name: process.pid for name, process, _, _ in self.children}

    def logs(self) -> str:
        return "\n".join(f"--- {name} ({log}):\n{tail(log)}" for name, _, log, _ in self.children)

    def stop_all(self) -> None:
        while self.children:
            name, process, _, pid_file = self.children.pop()
            if pid_file is not None:  # gunicorn: its master by its pid file (TRAPS.md), then its group
                try:
                    pid = int(pid_file.read_text().strip())
                    if pid == process.pid or _pgid(pid) == process.pid:  # only a process we started
                        os.kill(pid, signal.SIGTERM)
                except (OSError, ValueError):
                    pass
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            # the group's other members (pool children) may outlive their parent for a moment
            for _ in range(50):
                if not _group_members(process.pid):
                    break
                time.sleep(0.1)
            else:
                _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def _pgid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def _group_members(pgid: int) -> list[tuple[int, int]]:
    """(pid, rss bytes) of the live processes in a process group."""
    page = os.sysconf("SC_PAGE_SIZE")
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields and int(fields[2]) == pgid and fields[0] != "Z":
                members.append((int(entry), int(fields[21]) * page))
    return members


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RssSampler:
    """Peak resident memory of each process group (sum over its processes, and the largest one), sampled."""

    def __init__(self, groups: dict[str, int], interval: float = 0.2):
        self.groups = groups
        self.interval = interval
        self.peak_sum = dict.fromkeys(groups, 0)
        self.peak_one = dict.fromkeys(groups, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            for name, pgid in self.groups.items():
                rss = [r for _, r in _group_members(pgid)]
                if rss:
                    self.peak_sum[name] = max(self.peak_sum[name], sum(rss))
                    self.peak_one[name] = max(self.peak_one[name], max(rss))
            if self._stop.wait(self.interval):
                return


def _cpu_seconds(pid: int | str) -> float | None:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else None  # utime + stime


class CpuMeter:
    """CPU seconds used during a measurement by each process group we started, this client process, and the
    PostgreSQL backends connected to the benchmark's database (not the shared server's other work).

    Summed per process from /proc, so a noisy machine changes the wall times more than these.
    """

    def __init__(self, groups: dict[str, int], pg_url: str | None):
        self.groups = groups
        self.pg = None
        if pg_url:
            import psycopg

            self.pg = psycopg.connect(pg_url, autocommit=True)

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snap: dict[str, dict[int, float]] = {}
        for name, pgid in self.groups.items():
            snap[name] = {pid: c for pid, _ in _group_members(pgid) if (c := _cpu_seconds(pid)) is not None}
        snap["client"] = {os.getpid(): time.process_time()}
        if self.pg is not None:
            pids = [
                r[0]
                for r in self.pg.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
            snap["postgres"] = {pid: c for pid in pids if (c := _cpu_seconds(pid)) is not None}
        return snap

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> dict[str, float]:
        end = self._snapshot()
        return {
            name: sum(c - self._start.get(name, {}).get(pid, 0.0) for pid, c in procs.items())
            for name, procs in end.items()
        }

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- measurements


@dataclass
class Round:
    what: str
    n: int
    wall: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the round, by process group

    def cpu_ms(self, *names: str) -> float:
        return 1e3 * sum(self.cpu.get(n, 0.0) for n in names) / self.n

    @property
    def rate(self) -> float:
        return self.n / self.wall

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q))


@dataclass
class BigGraph:
    gates: int = 0
    inputs: int = 0
    outputs: int = 0
    text_mb: float = 0.0
    jobs_body_mb: float = 0.0
    nonfinite: int = 0
    upload: float = math.nan
    submit: float = math.nan  # POST .../jobs answered
    job: float = math.nan  # POST .../jobs sent -> succeeded seen
    stages: list[tuple[str, float]] = field(default_factory=list)  # (what, seconds after POST jobs)
    worker_stages: dict[str, float] = field(default_factory=dict)  # from the worker's log
    server: dict[str, float] = field(default_factory=dict)  # from the job's timestamps
    read: float = math.nan  # sum of page requests (request + orjson parse)
    read_wall: float = math.nan
    pages: int = 0
    page_p50: float = math.nan
    page_max: float = math.nan
    first_page: float = math.nan
    nodes_read: int = 0
    mismatches: int = 0
    whole: float = math.nan
    # baselines and the in-process write
    json_loads: float = math.nan
    json_dumps: float = math.nan
    copy: float = math.nan
    copy_logged: float = math.nan
    store: float = math.nan
    store_runs: list[float] = field(default_factory=list)
    store_results_only: float = math.nan  # succeed() with no output values: the result chunks alone
    get_job: float = math.nan  # one GET /v1/jobs/{id} of the succeeded job
    get_job_mb: float = 0.0
    blobs: dict[str, float] = field(default_factory=dict)
    copy_runs: list[float] = field(default_factory=list)
    local_load: float = math.nan
    local_upload: float = math.nan  # the API's own loads + load_graph of the definition's bytes, in-process, best of N
    local_eval: float = math.nan
    rss: dict[str, tuple[int, int]] = field(default_factory=dict)
    # /results as Arrow, the floor, and the whole job read with Arrow
    paged_mb: float = 0.0  # bytes of every /nodes page
    arrow_runs: list[float] = field(default_factory=list)  # GET /results -> read_all -> NumPy, seconds
    arrow_mb: float = 0.0
    arrow_mismatches: int = 0
    floor: float = math.nan  # in-process read_results(session, job, 0, n_nodes), best of the runs
    floor_runs: list[float] = field(default_factory=list)
    blocks_inproc: float = math.nan  # in-process result_blocks iteration (ids, codes, chunks)
    encode_inproc: float = math.nan  # the same blocks through ArrowEncoder
    whole_arrow: float = math.nan  # upload + job + the first Arrow read
    download: float = math.nan  # GET /results as Arrow, the bytes only (no parsing), best of 2

    @property
    def arrow(self) -> float:
        return min(self.arrow_runs) if self.arrow_runs else math.nan

    @property
    def baselines(self) -> float:
        return self.copy + self.json_loads + self.json_dumps


@dataclass
class BatchJob:
    nodes: int = 0
    batch: int = 0
    inputs: int = 0
    body_mb: float = 0.0
    upload: float = math.nan
    job: float = math.nan  # POST jobs with Prefer: wait=30 -> succeeded seen
    job_status: int = 0  # the POST's answer status (200: ended within the wait)
    worker_stages: dict[str, float] = field(default_factory=dict)
    json_runs: list[float] = field(default_factory=list)  # sum of page requests + orjson parse
    json_pages: int = 0
    json_mb: float = 0.0
    page_p50: float = math.nan
    arrow_runs: list[float] = field(default_factory=list)
    arrow_mb: float = 0.0
    mismatches: int = 0  # Arrow numbers and ids vs the paged JSON's
    checked: int = 0
    server: dict[str, float] = field(default_factory=dict)  # from the job's timestamps
    download: float = math.nan  # GET /results as Arrow, the bytes only
    floor: float = math.nan  # in-process read_results of every node
    blocks_inproc: float = math.nan
    encode_inproc: float = math.nan

    @property
    def json(self) -> float:
        return min(self.json_runs) if self.json_runs else math.nan

    @property
    def arrow(self) -> float:
        return min(self.arrow_runs) if self.arrow_runs else math.nan


@dataclass
class Tenants:
    """The two-tenant round: A saturating the workers with ~0.3 s jobs, B sending the worked example one at a time."""

    a_jobs: int = 0
    a_seconds: float = math.nan  # each A job's own run (started -> finished), median
    a_alone: float = math.nan  # A's jobs/s alone
    a_beside_b: float = math.nan  # A's jobs/s while B sends
    b_alone: list[float] = field(default_factory=list)  # B's submission -> succeeded, seconds, alone
    b_beside_a: list[float] = field(default_factory=list)  # the same, with A's backlog queued

    @staticmethod
    def pct(latencies: list[float], q: float) -> float:
        return float(np.percentile(latencies, q)) if latencies else math.nan


@dataclass
class Target:
    what: str
    bound: str
    measured: float | None
    passed: bool | None

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


class Bench:
    """One stack and what is measured on it; ``root`` is the checkout it runs (another one for an A/B comparison)."""

    def __init__(self, args: argparse.Namespace, root: Path = ROOT, pg_database: str = PG_DATABASE):
        self.args = args
        self.root, self.pg_database = root, pg_database
        self.quick = args.quick
        self.database = args.database
        self.clients = args.clients
        self.gates = args.gates or (10**4 if self.quick else 10**6)
        self.service_jobs = args.jobs or (15 if self.quick else 50)  # per client per round
        self.empty_jobs = 5 * self.service_jobs  # per client per round (empty tasks are ~10x faster)
        self.rounds = 2
        self.repeats = 2 if self.gates >= 10**6 else 3
        self.started = time.perf_counter()
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.queue = f"bench-service-{self.run_id}"
        self.empty_queue = f"bench-empty-{self.run_id}"
        self.broker_url = f"{REDIS_BASE}/{BROKER_DB}"
        self.tmp = Path(tempfile.mkdtemp(prefix="gategraph-bench-"))
        self.stack = Stack(self.tmp, root)
        self.baseline_worker = True  # the empty-task worker, started beside the service's
        self.extra_env: dict[str, str] = {}  # settings of this stack's processes, over the defaults here
        self.database_url = ""
        self.base = ""
        self.key = ""
        self.empty_rounds: list[Round] = []
        self.service_rounds: list[Round] = []
        self.wait_rounds: list[Round] = []  # small jobs submitted with Prefer: wait
        self.wait_fallbacks = 0  # Prefer: wait submissions answered 202 (then polled)
        self.wait_submissions = 0
        self.unloaded: list[Round] = []  # one client, sequential: empty task, two round trips, Prefer: wait
        self.big = BigGraph()
        self.batch = BatchJob()
        self.tenants = Tenants()
        self.batch_gates, self.batch_size = (909, 1_000) if self.quick else (9_091, 1_000)  # 10^3 / 10^4 nodes
        self.stopping = threading.Event()  # set on the way out: client threads stop sending

    # ----------------------------------------------------------------- helpers

    def say(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def session(self) -> requests.Session:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.key}"
        return s

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "BROKER_URL": self.broker_url,
            "QUEUE": self.queue,
            "GATEGRAPH_HOME": str(self.tmp / "home"),
            "PYTHONUNBUFFERED": "1",
            **BENCH_RATE_LIMIT,
            **self.extra_env,
            **extra,
        }

    # ----------------------------------------------------------------- setup and teardown

    def setup(self) -> None:
        if self.database == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.pg_database}"')
            self.database_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{self.pg_database}"
        else:
            self.database_url = f"sqlite:///{self.tmp / 'home' / 'gategraph.sqlite'}"
        (self.tmp / "home").mkdir(exist_ok=True)
        self.say(f"database {self.database_url}; broker {self.broker_url}; queue {self.queue}")
        gategraph = [sys.executable, "-m", "service.cli"]
        run = subprocess.run(
            [*gategraph, "db", "upgrade"], env=self.env(), cwd=self.root, capture_output=True, text=True, timeout=120
        )
        if run.returncode:
            raise StackError(f"gategraph db upgrade failed:\n{run.stdout}{run.stderr}")
        run = subprocess.run(
            [*gategraph, "keys", "create", "bench"],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if run.returncode:
            raise StackError(f"gategraph keys create failed:\n{run.stdout}{run.stderr}")
        self.key = run.stdout.strip().splitlines()[-1]
        self.tenant_keys = [self._new_key(gategraph, name) for name in ("tenant-a", "tenant-b")]

        port = self.args.port or free_port()
        self.base = f"http://127.0.0.1:{port}"
        python = sys.executable
        self.stack.start(
            "api",
            [
                python,
                "-m",
                "gunicorn",
                "service.wsgi:app",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "8",
                "--bind",
                f"127.0.0.1:{port}",
                "--pid",
                str(self.tmp / "gunicorn.pid"),
            ],
            self.env(),
            pid_file=self.tmp / "gunicorn.pid",
        )
        from service.runtime.job_queue import worker_command

        name = f"bench-service-{self.run_id}@%h"
        self.stack.start("worker", [*worker_command(self.queue, "WARNING", 2), "-n", name], self.env())
        if self.baseline_worker:
            self._start_empty_worker()
        self._wait_api()
        self.say("API ready; waiting for the workers")

    def _start_empty_worker(self) -> None:
        python = sys.executable
        self.stack.start(
            "empty-worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "tests.benchmarks.bench_service:empty_app",
                "worker",
                "--concurrency",
                "2",
                "-Q",
                self.empty_queue,
                "--loglevel",
                "WARNING",
                "-n",
                f"bench-empty-{self.run_id}@%h",
            ],
            self.env(QUEUE=self.empty_queue),
        )
        empty_app.conf.update(broker_url=self.broker_url, task_default_queue=self.empty_queue)

    def _new_key(self, gategraph: list[str], tenant: str) -> str:
        run = subprocess.run(
            [*gategraph, "keys", "create", tenant],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if run.returncode:
            raise StackError(f"gategraph keys create failed:\n{run.stdout}{run.stderr}")
        return run.stdout.strip().splitlines()[-1]

    def _wait_api(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.stack.check()
            try:
                if requests.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise StackError(f"the API was not ready after {timeout} s")

    def teardown(self) -> None:
        self.stopping.set()
        self.say("stopping the stack")
        self.stack.stop_all()
        try:
            client = redis.Redis.from_url(self.broker_url)
            for queue in (self.queue, self.empty_queue):
                keys = list(client.scan_iter(match=f"*{queue}*", count=1000))
                if keys:
                    client.delete(*keys)
            client.close()
        except redis.RedisError:
            pass
        if self.database == "postgresql" and not self.args.keep:
            try:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - cleanup: report and go on
                print(f"could not drop {self.pg_database}: {exc}", file=sys.stderr)
        if self.args.keep:
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ----------------------------------------------------------------- small jobs

    def small_job_calls(self) -> tuple[Callable[[requests.Session], None], Callable[[requests.Session], None]]:
        """The worked example, checked, on a graph created once: as two round trips, and as one (Prefer: wait)."""
        s = self.session()
        r = s.post(f"{self.base}/v1/graphs", json=CS231N["graph"], timeout=30)
        if r.status_code != 201:
            raise StackError(f"POST /v1/graphs: {r.status_code} {r.text[:500]}")
        graph_id = r.json()["id"]
        expected = CS231N["expected"]["outputs"]
        jobs_url = f"{self.base}/v1/graphs/{graph_id}/jobs"
        body = orjson.dumps({"inputs": CS231N["inputs"]})

        def service_job(session: requests.Session) -> None:
            r = session.post(jobs_url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
            if r.status_code != 202:
                raise StackError(f"POST jobs: {r.status_code} {r.text[:500]}")
            job = r.json()
            while job["status"] not in TERMINAL:
                r = session.get(f"{self.base}/v1/jobs/{job['id']}", params={"wait": 5}, timeout=30)
                if r.status_code != 200:
                    raise StackError(f"GET job: {r.status_code} {r.text[:500]}")
                job = r.json()
            if job["status"] != "succeeded" or job["outputs"] != expected:
                raise StackError(f"job {job['id']}: {job['status']} {job.get('outputs')} {job.get('error')}")

        wait_headers = {"Content-Type": "application/json", "Prefer": "wait=10"}
        count_lock = threading.Lock()

        def wait_job(session: requests.Session) -> None:
            r = session.post(jobs_url, data=body, headers=wait_headers, timeout=30)
            if r.status_code not in (200, 202):
                raise StackError(f"POST jobs (Prefer: wait): {r.status_code} {r.text[:500]}")
            job = r.json()
            polled = r.status_code == 202
            while job["status"] not in TERMINAL:  # a 202: the job did not end within the wait
                r = session.get(f"{self.base}/v1/jobs/{job['id']}", params={"wait": 5}, timeout=30)
                if r.status_code != 200:
                    raise StackError(f"GET job: {r.status_code} {r.text[:500]}")
                job = r.json()
            with count_lock:
                self.wait_submissions += 1
                self.wait_fallbacks += polled
            if job["status"] != "succeeded" or job["outputs"] != expected:
                raise StackError(f"job {job['id']}: {job['status']} {job.get('outputs')} {job.get('error')}")

        s.close()
        return service_job, wait_job

    def until_it_answers(self, what: str, fn: Callable[[requests.Session], None]) -> None:
        """Readiness: ``fn`` succeeds once (the workers started, kernels compiled), within 120 s."""
        s = self.session()
        deadline = time.monotonic() + 120
        while True:
            self.stack.check()
            try:
                fn(s)
                break
            except (StackError, requests.RequestException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        s.close()
        self.say(f"{what} worker answers")

    def small_jobs(self) -> None:
        service_job, wait_job = self.small_job_calls()
        done = redis.Redis.from_url(self.broker_url)

        def empty_job(_session: requests.Session) -> None:
            key = f"bench:done:{self.run_id}:{uuid.uuid4().hex}"
            empty_app.send_task(EMPTY_TASK, args=[key], queue=self.empty_queue)
            if done.blpop([key], timeout=60) is None:
                raise StackError("an empty task did not finish within 60 s")

        # readiness and warm-up: every worker child runs a few of each (numba kernels, connections)
        for what, fn in (("service", service_job), ("empty", empty_job)):
            self.until_it_answers(what, fn)
        self.clients_run("warm-up empty", empty_job, 10)
        self.clients_run("warm-up service", service_job, 3)
        self.clients_run("warm-up wait", wait_job, 3)
        self.wait_submissions = self.wait_fallbacks = 0
        for i in range(self.rounds):
            self.empty_rounds.append(self.clients_run(f"empty round {i + 1}", empty_job, self.empty_jobs))
            self.service_rounds.append(self.clients_run(f"service round {i + 1}", service_job, self.service_jobs))
            self.wait_rounds.append(self.clients_run(f"wait round {i + 1}", wait_job, self.service_jobs))
        # unloaded: one client, one job at a time (enough of them for a steady p50: 100, or 30 quick)
        unloaded_jobs = max(30, 2 * self.service_jobs)
        for what, fn in (("empty", empty_job), ("service", service_job), ("wait", wait_job)):
            self.unloaded.append(self.clients_run(f"{what}, 1 client", fn, unloaded_jobs, clients=1))
        done.close()

    def clients_run(
        self, what: str, fn: Callable[[requests.Session], None], per_client: int, clients: int | None = None
    ) -> Round:
        clients = clients or self.clients
        latencies: list[float] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        barrier = threading.Barrier(clients + 1)

        def client() -> None:
            session = self.session()
            mine = []
            barrier.wait()
            try:
                for _ in range(per_client):
                    if self.stopping.is_set():
                        return
                    t0 = time.perf_counter()
                    fn(session)
                    mine.append(time.perf_counter() - t0)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)
            with lock:
                latencies.extend(mine)
            session.close()

        threads = [threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        meter = CpuMeter(self.stack.groups(), self.database_url if self.database == "postgresql" else None)
        try:
            meter.start()
            barrier.wait()
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            cpu = meter.stop()
        finally:
            meter.close()
        if errors:
            raise StackError(f"{what}: {len(errors)} client(s) failed; first: {errors[0]!r}")
        result = Round(what, len(latencies), wall, latencies, cpu)
        self.say(
            f"{what}: {result.n} in {wall:.2f} s = {result.rate:.1f}/s, p50 {result.pct(50) * 1e3:.1f} ms, "
            f"p99 {result.pct(99) * 1e3:.1f} ms"
        )
        return result

    # ----------------------------------------------------------------- two tenants

    def two_tenants(self) -> None:
        """Tenant A keeps the workers busy with a backlog of ~0.3 s jobs; tenant B sends small jobs one at a time.

        A's throughput is its jobs over the time from the first submission to the last end, alone
        and then with B sending; B's latency is from submission (with Prefer: wait) to succeeded,
        alone on the service and then behind A's backlog.
        """
        from tests.e2e.test_fair_scheduling import A_JOBS, neighbour_graph, neighbour_job

        t = self.tenants
        a, b = self.session(), self.session()
        a.headers["Authorization"], b.headers["Authorization"] = (f"Bearer {k}" for k in self.tenant_keys)
        self.say("two tenants: uploading A's graph")
        a_graph = self._post_graph(a, neighbour_graph())
        b_graph = self._post_graph(b, CS231N["graph"])
        rng = random.Random(SEED)
        bodies = [orjson.dumps(neighbour_job(rng)) for _ in range(A_JOBS)]
        self._a_backlog(a, a_graph, bodies[:4], lambda: time.sleep(0.05))  # warm-up: both children load A's plan
        for _ in range(5):
            self._b_job(b, b_graph)
        t.a_jobs = A_JOBS
        t.b_alone = [self._b_job(b, b_graph) for _ in range(30)]
        t.a_alone, _ = self._a_backlog(a, a_graph, bodies, lambda: time.sleep(0.05))
        beside: list[float] = []
        t.a_beside_b, t.a_seconds = self._a_backlog(a, a_graph, bodies, lambda: beside.append(self._b_job(b, b_graph)))
        t.b_beside_a = beside
        self.say(
            f"two tenants: A {t.a_alone:.2f} jobs/s alone, {t.a_beside_b:.2f} beside B; B p50/p99 "
            f"{Tenants.pct(t.b_alone, 50) * 1e3:.1f}/{Tenants.pct(t.b_alone, 99) * 1e3:.1f} ms alone, "
            f"{Tenants.pct(beside, 50) * 1e3:.1f}/{Tenants.pct(beside, 99) * 1e3:.1f} ms beside A ({len(beside)} jobs)"
        )

    def _post_graph(self, s: requests.Session, definition: dict[str, Any]) -> str:
        r = s.post(f"{self.base}/v1/graphs", json=definition, timeout=120)
        if r.status_code != 201:
            raise StackError(f"POST /v1/graphs: {r.status_code} {r.text[:500]}")
        return r.json()["id"]

    def _a_backlog(
        self, s: requests.Session, graph_id: str, bodies: list[bytes], meanwhile: Callable[[], None]
    ) -> tuple[float, float]:
        """Submit A's jobs at once, call ``meanwhile`` until they have all ended; (A's jobs/s, median run s)."""
        headers = {"Content-Type": "application/json"}
        t0 = time.perf_counter()
        ids = []
        for body in bodies:
            r = s.post(f"{self.base}/v1/graphs/{graph_id}/jobs", data=body, headers=headers, timeout=60)
            if r.status_code != 202:
                raise StackError(f"POST A's job: {r.status_code} {r.text[:500]}")
            ids.append(r.json()["id"])
        ended = threading.Event()

        def keep_calling() -> None:
            while not ended.is_set():
                meanwhile()

        side = threading.Thread(target=keep_calling, daemon=True)
        side.start()
        runs = []
        try:
            for job_id in ids:
                job = {"status": "queued"}
                while job["status"] not in TERMINAL:
                    job = s.get(f"{self.base}/v1/jobs/{job_id}", params={"wait": 20}, timeout=60).json()
                if job["status"] != "succeeded":
                    raise StackError(f"A's job {job_id}: {job['status']} {job.get('error')}")
                runs.append(_ts(job["finished_at"]) - _ts(job["started_at"]))
            wall = time.perf_counter() - t0
        finally:
            ended.set()
            side.join()
        return len(ids) / wall, float(np.median(runs))

    def _b_job(self, s: requests.Session, graph_id: str) -> float:
        """One of B's jobs, with Prefer: wait: seconds from submission to succeeded."""
        t0 = time.perf_counter()
        r = s.post(
            f"{self.base}/v1/graphs/{graph_id}/jobs",
            json={"inputs": CS231N["inputs"]},
            headers={"Prefer": "wait=20"},
            timeout=60,
        )
        job = r.json()
        while job.get("status") not in TERMINAL:
            if r.status_code not in (200, 202):
                raise StackError(f"B's job: {r.status_code} {r.text[:500]}")
            r = s.get(f"{self.base}/v1/jobs/{job['id']}", params={"wait": 20}, timeout=60)
            job = r.json()
        if job["status"] != "succeeded":
            raise StackError(f"B's job {job['id']}: {job['status']} {job.get('error')}")
        return time.perf_counter() - t0

    # ----------------------------------------------------------------- the big graph

    def big_graph(self) -> None:
        from service.graph import evaluate, load_graph, loads

        big = self.big
        n = self.gates
        self.say(f"building a {n:,}-gate graph")
        definition, job_request = make_big_graph(n)
        text = orjson.dumps(definition)
        big.gates, big.inputs = n, len(definition["inputs"])
        big.text_mb = len(text) / 1e6
        jobs_body = orjson.dumps(job_request)
        big.jobs_body_mb = len(jobs_body) / 1e6
        names = definition["inputs"] + [g["id"] for g in definition["gates"]]

        # in-process expectation (independent of the service's storage), and the json.loads baseline
        t0 = time.perf_counter()
        plan = load_graph(definition)
        big.local_load = time.perf_counter() - t0
        del definition
        x = np.array([job_request["inputs"][name] for name in plan.ids[: plan.n_inputs]], dtype=np.float64)[:, None]
        del job_request
        evaluate(plan, x)  # load the kernels in this process first
        t0 = time.perf_counter()
        expected = evaluate(plan, x)
        big.local_eval = time.perf_counter() - t0
        big.outputs = int(plan.outputs.size)
        if list(plan.ids) != names:
            raise StackError("the plan's node order is not the definition's (inputs, then gates in order)")
        big.nonfinite = int((~np.isfinite(expected.values)).sum() + (~np.isfinite(expected.grads)).sum())
        big.local_upload = best_of(self.repeats, lambda body=text: load_graph(loads(body)))
        text_str = text.decode()
        big.json_loads = best_of(self.repeats, lambda: json.loads(text_str))
        text_str = None  # freed now: the timed lambdas that read it have run
        self.say(f"json.loads of the definition ({big.text_mb:.1f} MB): {big.json_loads:.2f} s")

        # the service, stage by stage
        s = self.session()
        json_headers = {"Content-Type": "application/json"}
        with RssSampler(self.stack.groups()) as sampler:
            t_start = time.perf_counter()
            r = s.post(f"{self.base}/v1/graphs", data=text, headers=json_headers, timeout=900)
            big.upload = time.perf_counter() - t_start
            if r.status_code != 201:
                raise StackError(f"POST /v1/graphs (big): {r.status_code} {r.text[:1000]}")
            graph_id = r.json()["id"]
            del text
            self.say(f"upload + validation: {big.upload:.2f} s")

            t_job = time.perf_counter()
            r = s.post(f"{self.base}/v1/graphs/{graph_id}/jobs", data=jobs_body, headers=json_headers, timeout=900)
            big.submit = time.perf_counter() - t_job
            if r.status_code != 202:
                raise StackError(f"POST jobs (big): {r.status_code} {r.text[:1000]}")
            job = r.json()
            big.stages.append(("submit answered (202)", big.submit))
            while job["status"] not in TERMINAL:
                r = s.get(f"{self.base}/v1/jobs/{job['id']}", params={"wait": 30}, timeout=90)
                if r.status_code != 200:
                    raise StackError(f"GET job (big): {r.status_code} {r.text[:500]}")
                job = orjson.loads(r.content)
                self.stack.check()
            big.job = time.perf_counter() - t_job
            big.stages.append((f"{job['status']} (GET ?wait=30 answered)", big.job))
            big.worker_stages = self.worker_stages(job["id"])
            if job["status"] != "succeeded":
                raise StackError(f"the big job {job['status']}: {job.get('error')}")
            wall_now = time.time()
            created, started, finished = (_ts(job[k]) for k in ("created_at", "started_at", "finished_at"))
            big.server = {
                "queued (started_at - created_at)": started - created,
                # finished_at is stamped as the results are written, before the commit
                "started_at -> finished_at": finished - started,
                "finished_at -> succeeded seen by the client": wall_now - finished,
            }
            self.say(f"job: {big.job:.2f} s (submit answered after {big.submit:.2f} s)")
            t0 = time.perf_counter()
            r = s.get(f"{self.base}/v1/jobs/{job['id']}", timeout=60)
            big.get_job = time.perf_counter() - t0
            big.get_job_mb = len(r.content) / 1e6

            t_read = time.perf_counter()
            page_times: list[float] = []
            cursor = None
            values = np.empty(plan.n_nodes)
            grads = np.empty(plan.n_nodes)
            read_ids: list[str] = []
            while True:
                params: dict[str, Any] = {"limit": 10_000}
                if cursor:
                    params["cursor"] = cursor
                t0 = time.perf_counter()
                r = s.get(f"{self.base}/v1/jobs/{job['id']}/nodes", params=params, timeout=120)
                page = orjson.loads(r.content) if r.status_code == 200 else None
                page_times.append(time.perf_counter() - t0)
                if page is None:
                    raise StackError(f"GET nodes: {r.status_code} {r.text[:500]}")
                big.paged_mb += len(r.content) / 1e6
                items = page["items"]  # untimed from here: keep what the check needs
                k = big.nodes_read
                if k + len(items) > plan.n_nodes:
                    raise StackError("more nodes than the graph has")
                values[k : k + len(items)] = [float(it["value"]) for it in items]
                grads[k : k + len(items)] = [float(it["grad"]) for it in items]
                read_ids.extend(it["id"] for it in items)
                big.nodes_read += len(items)
                cursor = page["next_cursor"]
                if not cursor:
                    break
            big.read_wall = time.perf_counter() - t_read
            big.whole = time.perf_counter() - t_start
            del page, items
            for i in range(3):  # the first counts for the whole job; the best is compared with the floor
                seconds, mb, ids, (a_values, a_grads) = self.read_arrow(s, job["id"])
                big.arrow_runs.append(seconds)
                big.arrow_mb = mb
                if i == 0:
                    big.arrow_mismatches = int(
                        (np.array(ids.to_pylist(), dtype=object) != np.array(names, dtype=object)).sum()
                        + (~_same(a_values, expected.values[:, 0])).sum()
                        + (~_same(a_grads, expected.grads[:, 0])).sum()
                    )
                del ids, a_values, a_grads
            big.whole_arrow = big.upload + big.job + big.arrow_runs[0]
            big.download = self.download(s, job["id"])
            self.say("Arrow /results: " + " ".join(f"{t:.2f}" for t in big.arrow_runs) + f" s ({big.arrow_mb:.1f} MB)")
        big.read = sum(page_times)
        big.pages = len(page_times)
        big.first_page = page_times[0]
        big.page_p50 = float(np.median(page_times))
        big.page_max = max(page_times)
        big.rss = {name: (sampler.peak_sum[name], sampler.peak_one[name]) for name in sampler.groups}
        self.say(f"read back {big.nodes_read:,} nodes in {big.pages} pages: {big.read:.2f} s")
        if big.nodes_read != plan.n_nodes:
            raise StackError(f"read {big.nodes_read} nodes, the graph has {plan.n_nodes}")
        big.mismatches = int(
            (np.array(read_ids, dtype=object) != np.array(names, dtype=object)).sum()
            + (~_same(values, expected.values[:, 0])).sum()
            + (~_same(grads, expected.grads[:, 0])).sum()
        )
        del read_ids, values, grads

        # json.dumps of 10^6 result items, the storage baselines and the in-process results write
        kinds = ["input"] * plan.n_inputs + ["constant"] * plan.n_constants
        items = [
            {"id": i, "kind": kd, "value": v, "grad": g}
            for i, kd, v, g in zip(
                names,
                kinds + ["gate"] * plan.n_gates,
                expected.values[:, 0].tolist(),
                expected.grads[:, 0].tolist(),
                strict=True,
            )
        ]
        big.json_dumps = best_of(self.repeats, lambda: json.dumps(items))
        items = None  # freed now: the timed lambdas that read it have run
        self.say(f"json.dumps of {plan.n_nodes:,} items: {big.json_dumps:.2f} s")
        big.blobs = self.blob_sizes(job["id"])
        big.floor_runs, big.blocks_inproc, big.encode_inproc = self.floor(job["id"], plan.n_nodes)
        big.floor = min(big.floor_runs)
        self.storage(graph_id, expected.values, expected.grads, expected.values[plan.outputs])

    def read_arrow(self, s: requests.Session, job_id: str) -> tuple[float, float, Any, tuple[np.ndarray, ...]]:
        """GET /results as Arrow -> a table -> value and grad as NumPy: seconds, MB received, the id column, arrays."""
        import pyarrow as pa

        gc.collect()
        t0 = time.perf_counter()
        r = s.get(f"{self.base}/v1/jobs/{job_id}/results", headers={"Accept": ARROW}, stream=True, timeout=300)
        if r.status_code != 200:
            raise StackError(f"GET results: {r.status_code} {r.text[:500]}")
        r.raw.decode_content = True
        table = pa.ipc.open_stream(r.raw).read_all()
        arrays = tuple(_numbers(table.column(name)) for name in ("value", "grad"))
        seconds = time.perf_counter() - t0
        received = r.raw.tell() / 1e6
        r.close()
        return seconds, received, table.column("id"), arrays

    def download(self, s: requests.Session, job_id: str) -> float:
        """GET /results as Arrow, reading the bytes only (no Arrow parsing): seconds, best of 2."""
        best = math.inf
        for _ in range(2):
            t0 = time.perf_counter()
            with s.get(
                f"{self.base}/v1/jobs/{job_id}/results", headers={"Accept": ARROW}, stream=True, timeout=300
            ) as r:
                if r.status_code != 200:
                    raise StackError(f"GET results: {r.status_code} {r.text[:500]}")
                for _part in r.iter_content(1 << 20):
                    pass
            best = min(best, time.perf_counter() - t0)
        return best

    def floor(self, job_id: str, n_nodes: int) -> tuple[list[float], float, float]:
        """In-process reads of a job's stored results on the same database: the floor of /results.

        Returns the read_results runs (every node's chunks), and the best times of the result_blocks iteration
        (ids too) and of those blocks through the service's ArrowEncoder.
        """
        from service.api.result_formats import ArrowEncoder
        from service.storage.database import session_factory
        from service.storage.models import Graph, Job
        from service.storage.result_blocks import result_blocks
        from service.storage.result_chunks import read_results

        runs: list[float] = []
        sessions = session_factory(self.database_url)
        with sessions() as session:
            job = session.get(Job, job_id)
            graph = session.get(Graph, job.graph_id)
            for _ in range(3):
                gc.collect()
                t0 = time.perf_counter()
                results = read_results(session, job, 0, n_nodes)
                runs.append(time.perf_counter() - t0)
                if results.values.shape[0] != n_nodes:
                    raise StackError(f"read_results gave {results.values.shape[0]} nodes, not {n_nodes}")
                del results
                session.rollback()  # a fresh transaction each time, as a request has

            def blocks() -> int:
                session.rollback()
                return sum(len(b.ids) for b in result_blocks(session, graph, job))

            def encoded() -> int:
                session.rollback()
                encoder = ArrowEncoder(("value", "grad"), job.batched, job.batch_size)
                size = 0
                for b in result_blocks(session, graph, job):
                    part = encoder.block(b)  # bytes, or an iterator of bytes (as the route streams it)
                    size += len(part) if isinstance(part, bytes | bytearray) else sum(map(len, part))
                return size + len(encoder.end())

            blocks_s, encode_s = best_of(2, blocks), best_of(2, encoded)
        self.say(
            f"floor (in-process read_results): {min(runs):.3f} s; result_blocks {blocks_s:.3f} s; "
            f"+ ArrowEncoder {encode_s:.3f} s"
        )
        return runs, blocks_s, encode_s

    # ----------------------------------------------------------------- a batch job

    def batch_job(self) -> None:
        bj = self.batch
        B = self.batch_size
        definition, _ = make_big_graph(self.batch_gates)
        rng = np.random.default_rng([SEED, self.batch_gates, B])
        inputs = {name: rng.uniform(0.9, 1.1, B).tolist() for name in definition["inputs"]}
        bj.batch, bj.inputs = B, len(inputs)
        bj.nodes = len(definition["inputs"]) + len(definition["gates"])
        names = definition["inputs"] + [g["id"] for g in definition["gates"]]
        self.say(f"batch job: {bj.nodes:,} nodes x B = {B:,}")
        s = self.session()
        json_headers = {"Content-Type": "application/json"}
        t0 = time.perf_counter()
        r = s.post(f"{self.base}/v1/graphs", data=orjson.dumps(definition), headers=json_headers, timeout=300)
        bj.upload = time.perf_counter() - t0
        if r.status_code != 201:
            raise StackError(f"POST /v1/graphs (batch): {r.status_code} {r.text[:1000]}")
        graph_id = r.json()["id"]
        body = orjson.dumps({"inputs": inputs})
        bj.body_mb = len(body) / 1e6
        t0 = time.perf_counter()
        r = s.post(
            f"{self.base}/v1/graphs/{graph_id}/jobs",
            data=body,
            headers={**json_headers, "Prefer": "wait=30"},
            timeout=300,
        )
        bj.job_status = r.status_code
        if r.status_code not in (200, 202):
            raise StackError(f"POST jobs (batch): {r.status_code} {r.text[:1000]}")
        job = r.json()
        while job["status"] not in TERMINAL:
            r = s.get(f"{self.base}/v1/jobs/{job['id']}", params={"wait": 30}, timeout=90)
            if r.status_code != 200:
                raise StackError(f"GET job (batch): {r.status_code} {r.text[:500]}")
            job = orjson.loads(r.content)
            self.stack.check()
        bj.job = time.perf_counter() - t0
        wall_now = time.time()
        if job["status"] != "succeeded":
            raise StackError(f"the batch job {job['status']}: {job.get('error')}")
        created, started, finished = (_ts(job[k]) for k in ("created_at", "started_at", "finished_at"))
        bj.server = {
            "queued": started - created,
            "started_at -> finished_at": finished - started,
            "finished_at -> answered": wall_now - finished,
        }
        bj.worker_stages = self.worker_stages(job["id"])
        self.say(f"batch job: {bj.job:.2f} s (POST answered {bj.job_status})")

        page_times: list[float] = []
        json_values = json_grads = None
        for i in range(2):  # alternate, so a noisy moment does not favour one side
            seconds, bj.arrow_mb, ids, (a_values, a_grads) = self.read_arrow(s, job["id"])
            bj.arrow_runs.append(seconds)
            if i == 0:
                a_ids = ids.to_pylist()
                if a_ids != names or a_values.shape != (bj.nodes, B):
                    raise StackError(f"the batch's Arrow answer: {len(a_ids)} ids, values {a_values.shape}")
            del ids
            self.say(f"batch Arrow read: {seconds:.2f} s ({bj.arrow_mb:.1f} MB)")
            values, grads = np.empty((bj.nodes, B)), np.empty((bj.nodes, B))
            read_ids: list[str] = []
            page_times, total_mb, cursor = [], 0.0, None
            gc.collect()
            while True:
                params: dict[str, Any] = {"limit": 10_000}
                if cursor:
                    params["cursor"] = cursor
                t0 = time.perf_counter()
                r = s.get(f"{self.base}/v1/jobs/{job['id']}/nodes", params=params, timeout=300)
                page = orjson.loads(r.content) if r.status_code == 200 else None
                page_times.append(time.perf_counter() - t0)
                if page is None:
                    raise StackError(f"GET nodes (batch): {r.status_code} {r.text[:500]}")
                total_mb += len(r.content) / 1e6
                del r
                items = page["items"]  # untimed from here
                k = len(read_ids)
                if k + len(items) > bj.nodes:
                    raise StackError("more nodes than the batch graph has")
                values[k : k + len(items)] = [it["value"] for it in items]
                grads[k : k + len(items)] = [it["grad"] for it in items]
                read_ids.extend(it["id"] for it in items)
                cursor = page["next_cursor"]
                del page, items
                if not cursor:
                    break
            bj.json_runs.append(sum(page_times))
            bj.json_pages, bj.json_mb = len(page_times), total_mb
            self.say(f"batch paged read: {bj.json_runs[-1]:.2f} s ({len(page_times)} pages, {total_mb:.1f} MB)")
            if i == 0:
                if read_ids != names:
                    raise StackError(f"paged /nodes of the batch: {len(read_ids)} ids, not the graph's {len(names)}")
                json_values, json_grads = values, grads
                bj.mismatches = int((~_same(a_values, json_values)).sum() + (~_same(a_grads, json_grads)).sum())
                bj.checked = 2 * a_values.size
            del values, grads, read_ids, a_values, a_grads
        bj.page_p50 = float(np.median(page_times))
        del json_values, json_grads
        bj.download = self.download(s, job["id"])
        runs, bj.blocks_inproc, bj.encode_inproc = self.floor(job["id"], bj.nodes)
        bj.floor = min(runs)

    def worker_stages(self, job_id: str) -> dict[str, float]:
        """The worker's own stage timings of a job, from its JSON log line "job succeeded" (empty if absent)."""
        log = next((log for name, _, log, _ in self.stack.children if name == "worker"), None)
        for _ in range(20):  # the line may trail the commit by a moment
            for line in log.read_text(errors="replace").splitlines() if log else []:
                if job_id in line and '"stages"' in line:
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if record.get("job_id") == job_id and isinstance(record.get("stages"), dict):
                        return {k: float(v) for k, v in record["stages"].items()}
            time.sleep(0.1)
        return {}

    def blob_sizes(self, job_id: str) -> dict[str, float]:
        """MB stored in the big job's and graph's own rows (the ORM loads them with the row)."""
        from sqlalchemy import text as sql

        from service.storage.database import get_engine

        size = "pg_column_size" if self.database == "postgresql" else "length"
        with get_engine(self.database_url).connect() as connection:
            row = connection.execute(
                sql(
                    f"SELECT {size}(j.inputs), {size}(j.output_values), {size}(g.plan) "
                    "FROM jobs j JOIN graphs g ON g.id = j.graph_id WHERE j.id = :id"
                ),
                {"id": job_id},
            ).one()
        return {"jobs.inputs": row[0] / 1e6, "jobs.output_values": row[1] / 1e6, "graphs.plan": row[2] / 1e6}

    def storage(self, graph_id: str, values: np.ndarray, grads: np.ndarray, output_values: np.ndarray) -> None:
        from service.graph import Evaluation
        from service.runtime.job_states import RUNNING
        from service.storage import job_rows
        from service.storage.database import dispose_all, session_factory
        from service.storage.models import Graph, Job, utcnow
        from service.storage.result_chunks import chunk_nodes_for

        big = self.big
        sessions = session_factory(self.database_url)
        made: list[str] = []

        def store_once(outputs: np.ndarray) -> float:
            with sessions() as session:
                tenant = session.get(Graph, graph_id).tenant_id
                now = utcnow()
                job = Job(
                    id=str(uuid.uuid4()),
                    tenant_id=tenant,
                    graph_id=graph_id,
                    status=RUNNING,
                    batch_size=1,
                    batched=False,
                    check_gradients=False,
                    inputs=b"",
                    attempts=1,
                    created_at=now,
                    started_at=now,
                    heartbeat_at=now,
                )
                session.add(job)
                session.commit()
                made.append(job.id)
                gc.collect()
                t0 = time.perf_counter()
                claimed = job_rows.Claim(job.id, 1, graph_id, False, False, b"", None, now, None)
                ok = job_rows.succeed(session, claimed, outputs, None, Evaluation(values, grads), chunk_nodes_for(1))
                elapsed = time.perf_counter() - t0
            if not ok:
                raise StackError("succeed() refused the benchmark's job")
            return elapsed

        if self.database == "postgresql":
            copier = PgCopy(self.database_url)
        else:
            copier = SqliteInsert(self.tmp / "baseline.sqlite")
        try:
            for _ in range(3):  # alternate, so a noisy moment does not favour one side
                big.copy_runs.append(copier.run(values[:, 0], grads[:, 0]))
                big.store_runs.append(store_once(output_values))
            big.store_results_only = min(store_once(output_values[:0]) for _ in range(2))
            if self.database == "postgresql":
                big.copy_logged = min(copier.run(values[:, 0], grads[:, 0], logged=True) for _ in range(2))
        finally:
            copier.close()
            with sessions() as session:
                for job_id in made:
                    session.query(Job).filter(Job.id == job_id).delete()
                session.commit()
            dispose_all()
        big.copy, big.store = min(big.copy_runs), min(big.store_runs)
        self.say(f"{copier.name}: {big.copy:.2f} s; service.storage.job_rows.succeed: {big.store:.2f} s")

    # ----------------------------------------------------------------- report

    def best(self, rounds: list[Round]) -> Round:
        return max(rounds, key=lambda r: r.rate)

    def targets(self) -> list[Target]:
        out = []
        if self.service_rounds and self.empty_rounds:
            ratio = self.best(self.service_rounds).rate / self.best(self.empty_rounds).rate
            out.append(
                Target(
                    "small jobs/s / empty tasks/s",
                    f">= {TARGET_SMALL_THROUGHPUT}",
                    ratio,
                    ratio >= TARGET_SMALL_THROUGHPUT,
                )
            )
        if self.wait_rounds and self.empty_rounds:
            ratio = self.best(self.wait_rounds).rate / self.best(self.empty_rounds).rate
            out.append(
                Target(
                    "small jobs with Prefer: wait, jobs/s / empty tasks/s",
                    f">= {TARGET_WAIT_THROUGHPUT}",
                    ratio,
                    ratio >= TARGET_WAIT_THROUGHPUT,
                )
            )
        t = self.tenants
        if t.b_beside_a:
            p99 = Tenants.pct(t.b_beside_a, 99)
            share = t.a_beside_b / t.a_alone
            out.append(
                Target(
                    "two tenants: B's p99 beside A's backlog, s",
                    f"<= {TARGET_B_P99_UNDER_LOAD}",
                    p99,
                    p99 <= TARGET_B_P99_UNDER_LOAD,
                )
            )
            out.append(
                Target(
                    "two tenants: A's jobs/s beside B / alone",
                    f">= {TARGET_A_THROUGHPUT_SHARE}",
                    share,
                    share >= TARGET_A_THROUGHPUT_SHARE,
                )
            )
        big, bj = self.big, self.batch
        speedup = bj.json / bj.arrow
        out.append(
            Target(
                f"batch {_pow10(bj.nodes)} x {bj.batch:,}: paged /nodes s / Arrow /results s",
                f">= {TARGET_BATCH_ARROW_SPEEDUP:g}",
                None if math.isnan(speedup) else speedup,
                None if math.isnan(speedup) else speedup >= TARGET_BATCH_ARROW_SPEEDUP,
            )
        )
        label = f"{'COPY' if self.database == 'postgresql' else 'executemany'}"
        for what, bound, value in (
            (
                f"results write (succeed) / {label} of {_pow10(self.gates)} rows",
                TARGET_STORE_VS_COPY,
                big.store / big.copy,
            ),
            (
                "whole job / (store baseline + json.loads + json.dumps)",
                TARGET_WHOLE_VS_BASELINES,
                big.whole / big.baselines,
            ),
            (
                f"{_pow10(self.gates)} gates: Arrow /results / in-process read_results",
                TARGET_ARROW_VS_FLOOR,
                big.arrow / big.floor,
            ),
            (
                f"upload of {_pow10(self.gates)} gates: POST /v1/graphs / in-process loads + load_graph",
                TARGET_UPLOAD_VS_LOCAL,
                big.upload / big.local_upload,
            ),
            (
                "whole job, Arrow read (upload + job + /results) / baselines",
                TARGET_WHOLE_ARROW_VS_BASELINES,
                big.whole_arrow / big.baselines,
            ),
        ):
            ok = None if math.isnan(value) else value <= bound
            out.append(Target(what, f"<= {bound}", None if math.isnan(value) else value, ok))
        return out

    def render(self) -> str:
        big = self.big
        parts = [
            f"Service benchmark ({'quick' if self.quick else 'full'} run, database: {self.database})",
            *machine_lines(),
            f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            "stack: gunicorn gthread 2 workers x 8 threads; Celery worker --concurrency 2 (prefork); "
            f"Redis {self.broker_url}; {self.clients} client threads",
            "",
        ]
        if self.service_rounds:
            e, sv = self.best(self.empty_rounds), self.best(self.service_rounds)
            parts.append("Small jobs (worked example) vs an empty Celery task; every round:")
            pg = ["postgres"] if self.database == "postgresql" else []
            lines = []
            rounds = zip(self.empty_rounds, self.service_rounds, self.wait_rounds, strict=False)
            for r in (r for kinds in rounds for r in kinds):
                service = not r.what.startswith("empty")
                lines.append(
                    [
                        r.what,
                        str(r.n),
                        _num(r.wall),
                        _num(r.rate),
                        _num(r.pct(50) * 1e3),
                        _num(r.pct(99) * 1e3),
                        _num(r.cpu_ms("api", "worker", *pg) if service else r.cpu_ms("empty-worker")),
                        _num(r.cpu_ms("api")) if service else "",
                        _num(r.cpu_ms("worker" if service else "empty-worker")),
                        *([_num(r.cpu_ms("postgres")) if service else ""] if pg else []),
                        _num(r.cpu_ms("client")),
                    ]
                )
            parts.append(
                _table(
                    [
                        "round",
                        "jobs",
                        "seconds",
                        "per s",
                        "p50 ms",
                        "p99 ms",
                        "CPU ms/job: server",
                        "(api",
                        "worker",
                        *(["postgres"] if pg else []),
                        "client)",
                    ],
                    lines,
                )
            )
            parts.append(
                "CPU ms/job: CPU time of the processes during the round / jobs (server: the API's gunicorn group, "
                "the Celery worker's group"
                + (", the PostgreSQL backends of the benchmark database" if pg else "")
                + "; Redis, shared with other users, is not counted); on 2 cores, 2000 / server+client CPU ms "
                "bounds the jobs/s"
            )
            parts.append(
                f"best rounds: service {sv.rate:.1f} jobs/s vs empty task {e.rate:.1f} tasks/s -> "
                f"throughput ratio {sv.rate / e.rate:.3f} (target >= {TARGET_SMALL_THROUGHPUT}); "
                f"latency ratio p50 {sv.pct(50) / e.pct(50):.1f}x, p99 {sv.pct(99) / e.pct(99):.1f}x"
            )
            if self.wait_rounds:
                w = self.best(self.wait_rounds)
                parts.append(
                    f"best round with Prefer: wait: {w.rate:.1f} jobs/s vs empty task {e.rate:.1f} tasks/s -> "
                    f"throughput ratio {w.rate / e.rate:.3f} (target >= {TARGET_WAIT_THROUGHPUT}); latency ratio "
                    f"p50 {w.pct(50) / e.pct(50):.1f}x, p99 {w.pct(99) / e.pct(99):.1f}x; "
                    f"{self.wait_fallbacks} of {self.wait_submissions} submissions answered 202 and were polled"
                )
            parts.append(
                "(service: POST /v1/graphs/{id}/jobs -> GET ?wait=5 until succeeded; wait: the same POST with "
                "Prefer: wait=10, 200 with the ended job; empty task: send_task -> BLPOP on the key its RPUSH "
                "fills; no result backend)"
            )
            if self.unloaded:
                parts.append(
                    _table(
                        ["unloaded: 1 client, sequential", "jobs", "p50 ms", "p90 ms", "min ms"],
                        [
                            [r.what, str(r.n), _num(r.pct(50) * 1e3), _num(r.pct(90) * 1e3), _num(r.pct(0) * 1e3)]
                            for r in self.unloaded
                        ],
                    )
                )
                u = {r.what.split(",")[0]: r for r in self.unloaded}
                parts.append(
                    f"unloaded p50: one job with Prefer: wait {u['wait'].pct(50) * 1e3:.1f} ms (two round trips "
                    f"{u['service'].pct(50) * 1e3:.1f} ms) beside an empty task's round trip "
                    f"{u['empty'].pct(50) * 1e3:.1f} ms"
                )
            parts.append("")
        t = self.tenants
        if t.b_beside_a:
            parts.append(
                f"Two tenants (SPEC.md 'Sharing the service fairly'): A submits {t.a_jobs} jobs at once (a "
                f"{100_000:,}-gate graph x 8, gradients checked: {t.a_seconds:.3f} s each, median) and waits for "
                "them; B sends the worked example one job at a time (Prefer: wait), alone and during A's backlog"
            )
            parts.append(
                _table(
                    ["tenant", "alone", "beside the other", "ratio"],
                    [
                        ["A: jobs/s", _num(t.a_alone), _num(t.a_beside_b), f"{t.a_beside_b / t.a_alone:.3f}"],
                        *(
                            [
                                f"B: p{q} submission -> succeeded, ms",
                                _num(Tenants.pct(t.b_alone, q) * 1e3),
                                _num(Tenants.pct(t.b_beside_a, q) * 1e3),
                                f"{Tenants.pct(t.b_beside_a, q) / Tenants.pct(t.b_alone, q):.1f}",
                            ]
                            for q in (50, 99)
                        ),
                        ["B: jobs", str(len(t.b_alone)), str(len(t.b_beside_a)), ""],
                    ],
                )
            )
            parts.append("")
        if not math.isnan(big.whole):
            parts.append(
                f"One big graph: {big.gates:,} binary gates (wide random DAG), {big.inputs:,} inputs, "
                f"{big.outputs:,} outputs (the default: every unread gate); definition {big.text_mb:.1f} MB, "
                f"job request {big.jobs_body_mb:.1f} MB; non-finite values+grads: {big.nonfinite}"
            )
            parts.append(
                _table(
                    ["stage (client-side)", "seconds"],
                    [
                        ["upload + validation (POST /v1/graphs -> 201)", _num(big.upload)],
                        ["job (POST jobs -> GET ?wait=30 answers succeeded)", _num(big.job)],
                        [f"read every node back ({big.pages} pages of <= 10,000, orjson parse)", _num(big.read)],
                        ["whole job: upload -> last node read (wall)", _num(big.whole)],
                        [
                            f"read every node through /results, Arrow ({big.arrow_mb:.1f} MB; runs "
                            + " ".join(_num(t) for t in big.arrow_runs)
                            + ")",
                            _num(big.arrow_runs[0] if big.arrow_runs else math.nan),
                        ],
                        ["whole job, Arrow read: upload + job + the first /results read", _num(big.whole_arrow)],
                    ],
                )
            )
            parts.append(
                "the job as the client saw it (seconds after POST jobs): "
                + "; ".join(f"{w} at {_num(t)}" for w, t in big.stages)
            )
            if big.worker_stages:
                parts.append(
                    'the worker\'s own stage timings (its JSON log line "job succeeded"): '
                    + ", ".join(f"{k} {_num(v)} s" for k, v in big.worker_stages.items())
                    + f"; sum {_num(sum(big.worker_stages.values()))} s"
                )
            else:
                parts.append(
                    "the worker's log has no stage timings for this job (LOG_LEVEL above INFO, or an older service)"
                )
            parts.append("from the job's timestamps: " + "; ".join(f"{k} {_num(v)} s" for k, v in big.server.items()))
            parts.append(
                f"one GET /v1/jobs/{{id}} of the succeeded job: {_num(big.get_job)} s "
                f"({big.get_job_mb:.1f} MB answer); "
                "stored in the rows that job and node requests load: "
                + ", ".join(f"{k} {v:.2f} MB" for k, v in big.blobs.items())
            )
            parts.append(
                f"pages: first {_num(big.first_page * 1e3)} ms, median {_num(big.page_p50 * 1e3)} ms, "
                f"slowest {_num(big.page_max * 1e3)} ms; nodes read {big.nodes_read:,}, "
                f"mismatches vs an in-process evaluation: {big.mismatches}; {big.paged_mb:.1f} MB of JSON"
            )
            parts.append(
                f"/results (Arrow): best {_num(big.arrow)} s, {big.arrow_mb:.1f} MB; mismatches vs the in-process "
                f"evaluation: {big.arrow_mismatches}; in-process on the same database: read_results of every node "
                f"(the floor) {_num(big.floor)} s (runs {' '.join(_num(t) for t in big.floor_runs)}), "
                f"result_blocks with the ids {_num(big.blocks_inproc)} s, "
                f"those blocks through ArrowEncoder {_num(big.encode_inproc)} s; "
                f"GET /results reading the bytes only (no parsing) {_num(big.download)} s"
            )
            parts.append(
                "peak RSS during the big graph (whole process group / largest process): "
                + "; ".join(f"{name} {s / 2**20:,.0f} / {o / 2**20:,.0f} MiB" for name, (s, o) in big.rss.items())
                + f"; this client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
            )
            parts.append("")
            store_label = (
                "PostgreSQL binary COPY into a temp table"
                if self.database == "postgresql"
                else "SQLite executemany into a table (WAL, synchronous=NORMAL)"
            )
            lines = [
                [
                    f"{store_label}, {_pow10(self.gates)} (job, node, value, grad) rows",
                    _num(big.copy),
                    " ".join(_num(t) for t in big.copy_runs),
                ]
            ]
            if not math.isnan(big.copy_logged):
                lines.append(["  (for reference: the same COPY into a logged table)", _num(big.copy_logged), ""])
            lines += [
                ["json.loads of the definition text (stdlib)", _num(big.json_loads), ""],
                [f"json.dumps of {_pow10(self.gates)} node items (stdlib)", _num(big.json_dumps), ""],
                ["sum of the three baselines", _num(big.copy + big.json_loads + big.json_dumps), ""],
                [
                    "service.storage.job_rows.succeed in-process (results + the output values, commit)",
                    _num(big.store),
                    " ".join(_num(t) for t in big.store_runs),
                ],
                [
                    "  (the same with no output values: the result chunks alone)",
                    _num(big.store_results_only),
                    "",
                ],
                ["the API's loads + load_graph of the definition text, in-process", _num(big.local_upload), ""],
                [
                    "(in-process load_graph of the definition / evaluate, for reference)",
                    f"{_num(big.local_load)} / {_num(big.local_eval)}",
                    "",
                ],
            ]
            parts.append(_table(["baseline (best of the runs)", "seconds", "runs"], lines, right={1}))
            parts.append(
                f"ratios: results write / store baseline {big.store / big.copy:.2f}x "
                f"(target <= {TARGET_STORE_VS_COPY}); "
                f"whole job / sum of baselines {big.whole / big.baselines:.2f}x "
                f"(target <= {TARGET_WHOLE_VS_BASELINES}); "
                f"with the Arrow read {big.whole_arrow / big.baselines:.2f}x "
                f"(target <= {TARGET_WHOLE_ARROW_VS_BASELINES}); "
                f"Arrow / floor {big.arrow / big.floor:.2f}x (target <= {TARGET_ARROW_VS_FLOOR}); "
                f"paged /nodes / Arrow {big.read / big.arrow:.1f}x"
            )
            parts.append("")
        bj = self.batch
        if bj.arrow_runs and bj.json_runs:
            parts.append(
                f"A batch job: {bj.nodes:,} nodes ({bj.inputs:,} inputs) x B = {bj.batch:,} "
                f"({bj.nodes * bj.batch:,} cells); job request {bj.body_mb:.1f} MB; upload {_num(bj.upload)} s; "
                f"job (POST with Prefer: wait=30, answered {bj.job_status}) {_num(bj.job)} s"
                + (
                    "; worker: " + ", ".join(f"{k} {_num(v)} s" for k, v in bj.worker_stages.items())
                    if bj.worker_stages
                    else ""
                )
            )
            parts.append(
                _table(
                    ["read every node back (best of the runs)", "seconds", "MB", "runs"],
                    [
                        [
                            f"paged /nodes?limit=10000 ({bj.json_pages} pages, median "
                            f"{_num(bj.page_p50 * 1e3)} ms; request + orjson parse)",
                            _num(bj.json),
                            f"{bj.json_mb:,.1f}",
                            " ".join(_num(t) for t in bj.json_runs),
                        ],
                        [
                            "/results, Arrow (request -> read_all -> NumPy (n, B))",
                            _num(bj.arrow),
                            f"{bj.arrow_mb:,.1f}",
                            " ".join(_num(t) for t in bj.arrow_runs),
                        ],
                    ],
                    right={1, 2},
                )
            )
            parts.append(
                f"paged JSON / Arrow {bj.json / bj.arrow:.1f}x (target >= {TARGET_BATCH_ARROW_SPEEDUP:g}); "
                f"Arrow vs paged JSON numbers: {bj.mismatches} of {bj.checked:,} differ"
            )
            parts.append(
                "where the Arrow read goes: GET /results reading the bytes only (no parsing) "
                f"{_num(bj.download)} s; in-process on the same database: read_results of every node "
                f"{_num(bj.floor)} s, result_blocks with the ids {_num(bj.blocks_inproc)} s, those blocks through "
                f"ArrowEncoder {_num(bj.encode_inproc)} s; from the job's timestamps: "
                + "; ".join(f"{k} {_num(v)} s" for k, v in bj.server.items())
            )
            parts.append("")
        targets = self.targets()
        parts.append("targets")
        parts.append(
            _table(
                ["target", "bound", "measured", "verdict"],
                [[t.what, t.bound, _num(t.measured), t.verdict] for t in targets],
                right={2},
            )
        )
        parts.append(
            f"{sum(t.passed is False for t in targets)} missed; total {time.perf_counter() - self.started:.0f} s"
        )
        return "\n".join(parts)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-12, atol=0)


def _numbers(column: Any) -> np.ndarray:
    """A float64 column, or a fixed_size_list<float64>[B] one, as an (n,) or (n, B) array (as service.client does)."""
    import pyarrow as pa

    array = column.combine_chunks()
    if pa.types.is_fixed_size_list(array.type):
        return array.flatten().to_numpy().reshape(len(array), array.type.list_size)
    return array.to_numpy()


def best_of(runs: int, fn: Callable[[], Any]) -> float:
    best = math.inf
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
        del result
    return best


def make_big_graph(n_gates: int, seed: int = SEED) -> tuple[dict[str, Any], dict[str, Any]]:
    """A wide random binary DAG and a job on it (see the module docstring); fixed seed."""
    rng = np.random.default_rng([seed, n_gates])
    n_inputs = max(3, n_gates // 10)
    before = n_inputs + np.arange(n_gates)  # how many nodes precede each gate
    is_mul = rng.random(n_gates) < 0.5
    first = (rng.random(n_gates) * before).astype(np.int64)
    second = np.where(is_mul, rng.integers(0, n_inputs, n_gates), (rng.random(n_gates) * before).astype(np.int64))
    names = [f"x{i}" for i in range(n_inputs)] + [f"g{i}" for i in range(n_gates)]
    gates = [
        {"id": names[n_inputs + g], "op": "mul" if m else "add", "inputs": [names[a], names[b]]}
        for g, (m, a, b) in enumerate(zip(is_mul.tolist(), first.tolist(), second.tolist(), strict=True))
    ]
    definition = {"name": f"bench wide binary {n_gates}", "inputs": names[:n_inputs], "gates": gates}
    inputs = dict(zip(names[:n_inputs], rng.uniform(0.9, 1.1, n_inputs).tolist(), strict=True))
    return definition, {"inputs": inputs}


class PgCopy:
    """Binary COPY of (job uuid, node bigint, value float8, grad float8) rows from a prepared buffer, then commit."""

    name = "binary COPY"

    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url)
        self.conn.execute("CREATE TEMP TABLE bench_copy (job uuid, node bigint, value float8, grad float8)")
        self.conn.execute("CREATE TABLE bench_copy_logged (job uuid, node bigint, value float8, grad float8)")
        self.conn.commit()

    def run(self, values: np.ndarray, grads: np.ndarray, logged: bool = False) -> float:
        table = "bench_copy_logged" if logged else "bench_copy"
        self.conn.execute(f"TRUNCATE {table}")
        self.conn.commit()
        gc.collect()
        t0 = time.perf_counter()
        rows = np.empty(
            values.size,
            dtype=[
                ("n", ">i2"),
                ("l1", ">i4"),
                ("job", "V16"),
                ("l2", ">i4"),
                ("node", ">i8"),
                ("l3", ">i4"),
                ("value", ">f8"),
                ("l4", ">i4"),
                ("grad", ">f8"),
            ],
        )
        rows["n"], rows["l1"], rows["l2"], rows["l3"], rows["l4"] = 4, 16, 8, 8, 8
        rows["job"] = np.frombuffer(uuid.uuid4().bytes, dtype="V16")[0]
        rows["node"] = np.arange(values.size)
        rows["value"], rows["grad"] = values, grads
        payload = memoryview(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rows.tobytes() + b"\xff\xff")
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} (job, node, value, grad) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            for s in range(0, len(payload), 1 << 22):
                copy.write(payload[s : s + (1 << 22)])
        self.conn.commit()
        elapsed = time.perf_counter() - t0
        (count,) = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        if count != values.size:
            raise StackError(f"COPY stored {count} rows, not {values.size}")
        return elapsed

    def close(self) -> None:
        self.conn.rollback()
        self.conn.execute("DROP TABLE IF EXISTS bench_copy_logged")
        self.conn.commit()
        self.conn.close()


class SqliteInsert:
    """executemany of (job, node, value, grad) rows into a table of a scratch SQLite file, then commit."""

    name = "SQLite executemany"

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("CREATE TABLE bench_rows (job TEXT, node INTEGER, value REAL, grad REAL)")
        self.conn.commit()

    def run(self, values: np.ndarray, grads: np.ndarray, logged: bool = False) -> float:
        self.conn.execute("DELETE FROM bench_rows")
        self.conn.commit()
        gc.collect()
        t0 = time.perf_counter()
        job = str(uuid.uuid4())
        self.conn.executemany(
            "INSERT INTO bench_rows VALUES (?, ?, ?, ?)",
            zip(repeat(job), range(values.size), values.tolist(), grads.tolist()),
        )
        self.conn.commit()
        return time.perf_counter() - t0

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- printing


def _pow10(n: int) -> str:
    e = round(math.log10(n)) if n > 0 else 0
    return f"10^{e}" if 10**e == n else f"{n:,}"


def machine_lines() -> list[str]:
    cpu = platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{p} {version(p)}" for p in ("flask", "gunicorn", "celery", "sqlalchemy", "psycopg", "redis"))
    return [
        f"machine: {cpu}, {cores} cores; {platform.system()} {platform.release()}; python {platform.python_version()}",
        versions,
        f"commit: {commit('service', 'worker', 'migrations')}",
    ]


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_service", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a 10^4-gate graph and fewer small jobs (< 60 s)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent client threads for the small jobs (default 8)"
    )
    parser.add_argument("--jobs", type=int, default=None, help="small jobs per client per round (default 50, quick 15)")
    parser.add_argument(
        "--gates", type=lambda t: int(float(t)), default=None, help="gates of the big graph (default 1e6, quick 1e4)"
    )
    parser.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    parser.add_argument(
        "--only",
        choices=("all", "small", "tenants"),
        default="all",
        help="only the small-job rounds, or only the two-tenant round (default: everything)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and the PostgreSQL database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        bench.setup()
        if args.only in ("all", "small"):
            bench.small_jobs()
        if args.only in ("all", "tenants"):
            bench.two_tenants()
        if args.only == "all":
            bench.big_graph()
            bench.batch_job()
        print(bench.render(), flush=True)
        return 0
    except StackError as exc:
        print(f"benchmark failed: {exc}\n{bench.stack.logs()}", file=sys.stderr, flush=True)
        return 1
    finally:
        try:
            bench.teardown()
        finally:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
