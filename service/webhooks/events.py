"""The body of a completion callback: ``{"type", "timestamp", "data": {"job_id", "graph_id", "status"}}``.

Built from the delivery's row on every attempt, byte for byte the same (the timestamp is the
event's, not the attempt's), so a receiver that deduplicates by ``webhook-id`` sees one event.
No results and no inputs travel in it: the receiver reads them with its own key.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson


def event_body(event: str, occurred_at: datetime, job_id: str, graph_id: str) -> str:
    if occurred_at.tzinfo is None:  # SQLite hands back naive datetimes, which are UTC here
        occurred_at = occurred_at.replace(tzinfo=UTC)
    timestamp = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    data = {"job_id": job_id, "graph_id": graph_id, "status": event.removeprefix("job.")}
    return orjson.dumps({"type": event, "timestamp": timestamp, "data": data}).decode()
