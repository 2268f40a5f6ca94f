"""Small helpers of the API tests: run queued jobs in-process through the worker's own runner."""

from __future__ import annotations

from service.storage.plan_cache import PlanCache
from worker.runner import run


def complete(settings, job_id: str) -> str:
    """Run a queued job the way a worker does (claim, compute, store), without a broker round trip."""
    return run(settings, job_id, PlanCache(4))


def assert_problem(response, status: int, fragment: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == status
    if fragment:
        assert fragment in body["detail"] + " ".join(e["message"] + e["path"] for e in body.get("errors", [])), body
    return body


def node_pages(client, job_id: str, limit: int) -> list[dict]:
    """Every node item of a job, in order, following ``next_cursor`` page by page."""
    items, cursor = [], None
    while True:
        page = client.get(f"/v1/jobs/{job_id}/nodes?limit={limit}" + (f"&cursor={cursor}" if cursor else "")).get_json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
