"""The body of a completion callback: ``{"type", "timestamp", "data": {"job_id", "graph_id", "status"}}``.

Built from the delivery's row on every attempt, byte for byte the same (the timestamp is the
event's, not the attempt's), so a receiver that deduplicates by ``webhook-id`` sees one event.
No results and no inputs travel in it: the receiver reads them with its own key.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from service.runtime.times import iso


def event_body(event: str, occurred_at: datetime, job_id: str, graph_id: str) -> str:
    data = {"job_id": job_id, "graph_id": graph_id, "status": event.removeprefix("job.")}
    return orjson.dumps({"type": event, "timestamp": iso(occurred_at), "data": data}).decode()
