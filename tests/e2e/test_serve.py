"""`gategraph serve`, the README's first command after install: the whole service, embedded, over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, key: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=40) as response:
        return json.loads(response.read())


def processes_using(home: Path, exclude: int) -> list[str]:
    """Processes started for this GATEGRAPH_HOME (they inherit it, or, like redis, work in it), but ``exclude``."""
    marker = f"GATEGRAPH_HOME={home}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ours = marker in (proc / "environ").read_bytes().split(b"\0") or os.readlink(proc / "cwd") == str(home)
            if int(proc.name) != exclude and ours:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{os.readlink(proc / 'exe')} {command}")
        except OSError:
            continue
    return found


def start_serve(home: Path, port: int, log_name: str) -> tuple[subprocess.Popen, dict[str, str], Path]:
    """``gategraph serve`` on the embedded default; returns it once it printed its export lines, and them."""
    env = {**os.environ, "GATEGRAPH_HOME": str(home), "PORT": str(port)}
    for name in ("DATABASE_URL", "BROKER_URL"):
        env.pop(name, None)
    log_path = home / log_name
    serve = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"], env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT
    )
    exports, deadline = {}, time.monotonic() + 90
    while len(exports) < 2 and time.monotonic() < deadline:
        exports = dict(re.findall(r"^  export (GATEGRAPH_URL|GATEGRAPH_API_KEY)=(\S+)$", log_path.read_text(), re.M))
        assert serve.poll() is None, log_path.read_text()
        time.sleep(0.3)
    assert len(exports) == 2, log_path.read_text()
    for _ in range(100):  # gunicorn binds shortly after the lines are printed
        try:
            urllib.request.urlopen(exports["GATEGRAPH_URL"] + "/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    return serve, exports, log_path


def stop(serve: subprocess.Popen) -> None:
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=60)


def test_serve_runs_the_worked_example_and_stops_everything(tmp_path, example):
    port = free_port()
    serve, exports, log = start_serve(tmp_path, port, "serve.log")
    try:
        base, key = exports["GATEGRAPH_URL"], exports["GATEGRAPH_API_KEY"]
        assert base == f"http://127.0.0.1:{port}" and key.startswith("gg_")
        job = call(base + "/v1/jobs", key, {"graph": example["graph"], "inputs": example["inputs"]})
        done = call(f"{base}/v1/jobs/{job['id']}?wait=30", key)
        assert done["status"] == "succeeded" and done["outputs"] == {"f": -12.0}
        nodes = call(f"{base}/v1/jobs/{job['id']}/nodes", key)["items"]
        assert {n["id"]: n["grad"] for n in nodes} == {k: v["grad"] for k, v in example["expected"]["nodes"].items()}
        running = " ".join(processes_using(tmp_path, serve.pid))
        assert "redis-server" in running and "gunicorn" in running and "celery" in running, running
    finally:
        stop(serve)
    time.sleep(1)
    assert processes_using(tmp_path, serve.pid) == []  # redis, gunicorn and the worker all stopped
    assert "(new, in" in log.read_text()

    key_file = tmp_path / "local-key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and key_file.read_text().strip() == key
    again, exports_again, log_again = start_serve(tmp_path, port, "serve-again.log")
    try:  # a restart keeps the key: what was pasted into another shell still works
        assert exports_again["GATEGRAPH_API_KEY"] == key and "(kept from before, in" in log_again.read_text()
        assert call(f"{base}/v1/jobs/{job['id']}", key)["status"] == "succeeded"
    finally:
        stop(again)


def test_worker_refuses_an_unmigrated_database(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}",
        "BROKER_URL": "redis://127.0.0.1:6379/0",
        "QUEUE": "unused",
    }
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--loglevel", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "gategraph db upgrade" in out.stdout + out.stderr
