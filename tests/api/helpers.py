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
