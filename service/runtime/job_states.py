"""Job states, named once: the database row, the API, the client and the CLI all use these.

queued -> running -> succeeded | failed | canceled. The database row is the source of truth.
"""

from __future__ import annotations

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
ACTIVE_STATES = (QUEUED, RUNNING)
TERMINAL_STATES = (SUCCEEDED, FAILED, CANCELED)
#: The webhook event of each end: "job.succeeded", "job.failed", "job.canceled".
END_EVENTS = tuple(f"job.{state}" for state in TERMINAL_STATES)


def end_event(status: str) -> str:
    return f"job.{status}"
