"""Structured logs: one JSON object a line, with the request id and job id of the work at hand.

The ids travel in context variables: the API sets the request id (``X-Request-ID``, made up
when absent) for each request; the worker sets the job id, and the request id that submitted
the job, for each job. API keys and job inputs are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)


class _ContextIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test's capture, a reopened stream)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for the ``gategraph`` loggers (idempotent)."""
    logger = logging.getLogger("gategraph")
    logger.setLevel(level)
    if any(getattr(h, "_gategraph", False) for h in logger.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}{job_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_ContextIds())
    handler._gategraph = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
