"""The retry schedule (growing waits, at least 24 hours by default) and the event body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from service.runtime.config import Settings
from service.webhooks.events import event_body
from service.webhooks.schedule import next_attempt_at


def test_the_default_schedule_grows_and_retries_for_more_than_a_day():
    s = Settings()
    start = now = datetime(2026, 1, 1, tzinfo=UTC)
    waits, attempts = [], 1
    while at := next_attempt_at(attempts, start, now, s.webhook_retry_base, s.webhook_retry_max, s.webhook_retry_for):
        waits.append((at - now).total_seconds())
        now, attempts = at, attempts + 1
    assert waits[:4] == [5, 15, 45, 135] and max(waits) == s.webhook_retry_max
    assert all(b >= a for a, b in zip(waits, waits[1:], strict=False))
    assert now - start >= timedelta(hours=24)  # SPEC.md: retried for at least 24 hours
    print(f"{attempts} attempts over {(now - start).total_seconds() / 3600:.1f} h")


def test_the_body_is_the_same_on_every_attempt_and_carries_no_numbers():
    occurred = datetime(2026, 12, 2, 4, 0, 0, 123456)  # naive, as SQLite returns it: UTC
    body = event_body("job.failed", occurred, "j-1", "g-1")
    assert body == event_body("job.failed", occurred.replace(tzinfo=UTC), "j-1", "g-1")
    assert json.loads(body) == {
        "type": "job.failed",
        "timestamp": "2026-12-02T04:00:00.123456Z",
        "data": {"job_id": "j-1", "graph_id": "g-1", "status": "failed"},
    }
