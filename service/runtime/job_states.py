"""Job states, named once: the database row, the API, the client and the CLI all use these.

queued -> running -> succeeded | failed | canceled. The database row is the source of truth.
"""

from __future__ import annotations

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = "queued", "running", "succeeded", "failed", "canceled"
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
ACTIVE_STATES = (QUEUED, RUNNING)
TERMINAL_STATES = (SUCCEEDED, FAILED, CANCELED)
