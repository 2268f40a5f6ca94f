"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

`docker-compose config` (Debian's docker-compose package, installed here with apt-get when it
is missing) validates the file and prints it resolved; the tests read that output. No
engine is needed, so this runs on the project's machines and in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from service.runtime.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "example-pg-3f9c",
    "REDIS_PASSWORD": "example-redis-81d2",
    "WEBHOOK_SECRET_KEYS": "example-fernet-key-0e1f",
}
CORE_SERVICES = {"postgres", "redis", "migrate", "api", "worker", "webhooks"}
# Variables of the file that a developer's shell must not leak into these tests.
FILE_VARIABLES = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_LOCK = ["-o", "DPkg::Lock::Timeout=300"]


def _apt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["apt-get", *APT_LOCK, *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **APT_ENV},
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """The docker-compose command, installed from Debian's packages if it is not on PATH."""
    found = shutil.which("docker-compose")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("docker-compose is not installed and cannot be: run `apt-get install -y docker-compose` as root")
    attempt = _apt("install", "-y", "--no-install-recommends", "docker-compose")
    if attempt.returncode != 0:  # a stale or empty package list: refresh it once, then try again
        update = _apt("update")
        attempt = _apt("install", "-y", "--no-install-recommends", "docker-compose")
        if attempt.returncode != 0:
            pytest.fail(
                "could not install docker-compose with apt-get:\n"
                f"apt-get update: {update.stderr[-1500:]}\napt-get install: {attempt.stderr[-1500:]}"
            )
    found = shutil.which("docker-compose")
    if not found:
        pytest.fail("apt-get installed docker-compose but it is not on PATH")
    return found


def _run(docker_compose: str, tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`docker-compose config ...` with exactly the variables given: none from the shell, and an
    empty env file instead of any `.env` a developer keeps in the work tree."""
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k not in FILE_VARIABLES and not k.startswith("COMPOSE_")}
    command = [
        docker_compose,
        "--env-file",
        str(empty_env_file),
        "--project-directory",
        str(ROOT),
        "-f",
        str(COMPOSE_FILE),
        "config",
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**base, **env}, stdin=subprocess.DEVNULL, cwd=ROOT
    )


def _parse(docker_compose: str, tmp_path: Path, output: str) -> dict:
    """The YAML that `config` printed, as data: with PyYAML if this interpreter has it, else with
    the Python that runs docker-compose v1 (which needs PyYAML), else as v2's JSON output."""
    try:
        import yaml

        return yaml.safe_load(output)
    except ImportError:
        pass
    first_line = Path(docker_compose).read_bytes()[:200].split(b"\n", 1)[0].decode(errors="replace")
    if first_line.startswith("#!") and "python" in first_line:
        interpreter = first_line[2:].split()
        to_json = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
        converted = subprocess.run(
            [*interpreter, "-c", to_json], input=output, capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(converted.stdout)
    result = _run(docker_compose, tmp_path, SECRETS, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture()
def config(docker_compose, tmp_path) -> dict:
    result = _run(docker_compose, tmp_path, SECRETS)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return _parse(docker_compose, tmp_path, result.stdout)


def _depends(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def _seconds(duration) -> float:
    """A compose duration ("6m", "1m30s", "360s", or a number of seconds) in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _words(command) -> list[str]:
    return command.split() if isinstance(command, str) else [str(word) for word in command]


def test_config_is_valid_and_scalable(config):
    services = config["services"]
    assert CORE_SERVICES <= services.keys()

    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker, "worker must scale with --scale worker=N"
    assert _words(worker["command"])[:2] == ["gategraph", "worker"]
    defaults = Settings()
    grace = _seconds(worker["stop_grace_period"])
    assert grace > defaults.job_soft_time_limit and grace > defaults.job_time_limit

    webhooks = services["webhooks"]
    assert _words(webhooks["command"])[:3] == ["gategraph", "worker", "--deliveries"]
    assert services["webhooks"]["environment"]["WEBHOOK_SECRET_KEYS"] == SECRETS["WEBHOOK_SECRET_KEYS"]

    for name in ("api", "worker", "webhooks"):
        depends = _depends(services[name])
        assert depends.get("migrate") == "service_completed_successfully", (name, depends)
        assert depends.get("redis") == "service_healthy", (name, depends)
        environment = services[name]["environment"]
        database_url = f"postgresql://gategraph:{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/"
        assert environment["DATABASE_URL"].startswith(database_url)
        assert environment["BROKER_URL"].startswith(f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/")
    assert services["api"]["environment"] == services["worker"]["environment"] == services["migrate"]["environment"]

    migrate = services["migrate"]
    assert _words(migrate["command"]) == ["gategraph", "db", "upgrade"]
    assert migrate["restart"] == "no" and "healthcheck" not in migrate
    assert _depends(migrate) == {"postgres": "service_healthy"}

    api = " ".join(_words(services["api"]["command"]))
    assert "gunicorn service.wsgi:app" in api and "--worker-class gthread" in api and "--bind 0.0.0.0:8000" in api
    assert "/healthz" in " ".join(_words(services["api"]["healthcheck"]["test"]))

    redis = " ".join(_words(services["redis"]["command"]))
    assert "--maxmemory-policy noeviction" in redis and "--appendonly yes" in redis
    for name, mount in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        volumes = services[name]["volumes"]
        assert any((v["target"] if isinstance(v, dict) else v.split(":")[1]) == mount for v in volumes), (name, volumes)
    assert {"pgdata", "redisdata"} <= config["volumes"].keys()

    for name, service in services.items():  # everything but the one-shot migrate keeps running
        if service.get("restart") == "no":
            continue
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name} has no healthcheck"

    for name in services.keys() - CORE_SERVICES:  # Flower and Prometheus start only when asked for
        assert services[name].get("profiles"), f"{name} would start by default"


def test_no_secret_in_the_files():
    raw = COMPOSE_FILE.read_text()
    assert not re.search(r"^version\s*:", raw, re.MULTILINE)
    for value in SECRETS.values():
        assert value not in raw
    for line in raw.splitlines():
        if line.lstrip().startswith("#"):
            continue
        code = line.split(" #", 1)[0]
        key = re.match(r"(?i)^\s*(?:-\s*)?[\"']?\w*(?:password|passwd|secret|token|auth)\w*[\"']?\s*[:=]\s*(\S*)", code)
        if key and key.group(1):  # a key that holds a secret gets it from a variable, or passes it through
            assert key.group(1).strip("\"'").startswith("${"), f"literal secret? {line.strip()}"
        for match in re.finditer(r"://[^/@\s:]*:([^@\s]+)@", code):  # the password of a URL
            assert match.group(1).startswith("${"), f"literal password in a URL? {line.strip()}"
    for match in re.finditer(r"\$\{(\w*PASSWORD\w*)([^}]*)\}", raw):
        assert match.group(2).startswith(":?"), f"${{{match.group(1)}}} must be required, with no default"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_config_fails_without_a_secret(docker_compose, tmp_path, missing):
    env = {k: v for k, v in SECRETS.items() if k != missing}
    result = _run(docker_compose, tmp_path, env)
    assert result.returncode != 0, f"docker-compose config passed without {missing}: a default secret is baked in"
    assert missing in result.stderr


def test_dockerfile():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert "pip install -c constraints.txt ." in dockerfile and "-e ." not in dockerfile
    assert "NUMBA_CACHE_DIR=/tmp/numba" in dockerfile
    users = [line.split(None, 1)[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert not re.search(r"(?i)(password|secret|token)\w*\s*=", dockerfile)
    ignore_lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in ignore_lines if line.strip() and not line.startswith("#")]
    assert ignored[0] == "*", ".dockerignore is an allow-list: nothing enters the build context unless named"
    assert not any(line.startswith("!") and ".env" in line for line in ignored)
