"""Retention with a real worker on both stacks: a job past its expires_at is deleted by the sweeper, every URL 404."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from service.storage.database import session_factory
from service.storage.models import Job, JobChunk
from tests.conftest import Client


def _ended(client: Client, job_id: str) -> dict:
    job = client.get(f"/v1/jobs/{job_id}?wait=20").get_json()
    assert job["status"] == "succeeded", job
    return job


def test_an_expired_job_goes_with_its_results_and_an_unexpired_one_stays(
    stack_app, keys, start_worker, example, settings
):
    start_worker(RETENTION_INTERVAL="0.5")
    api = Client(stack_app.test_client(), keys["acme"])
    graph_id = api.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    submit = f"/v1/graphs/{graph_id}/jobs"
    short = _ended(api, api.post(submit, json={"inputs": example["inputs"], "ttl_seconds": 1}).get_json()["id"])
    kept = _ended(api, api.post(submit, json={"inputs": example["inputs"]}).get_json()["id"])
    assert (datetime.fromisoformat(short["expires_at"]) - datetime.fromisoformat(short["finished_at"])).seconds == 1
    urls = [f"/v1/jobs/{short['id']}{tail}" for tail in ("", "/nodes", "/nodes/f", "/results", "/diagram.svg")]
    assert all(api.get(url).status_code == 200 for url in urls)

    deadline = time.monotonic() + 20
    while api.get(urls[0]).status_code != 404:
        assert time.monotonic() < deadline, "the expired job was never deleted"
        time.sleep(0.2)
    late = datetime.now(UTC) - datetime.fromisoformat(short["expires_at"])
    print(f"deleted at most {late.total_seconds():.2f} s after its expires_at")
    assert [api.get(url).status_code for url in urls] == [404] * len(urls)
    assert api.post(f"/v1/jobs/{short['id']}/cancel").status_code == 404
    assert api.delete(f"/v1/jobs/{short['id']}").status_code == 404
    with session_factory(settings.database_url)() as session:
        assert session.get(Job, short["id"]) is None
        chunks = select(func.count()).select_from(JobChunk)
        assert session.scalar(chunks.where(JobChunk.job_id == short["id"])) == 0
        assert session.scalar(chunks.where(JobChunk.job_id == kept["id"])) > 0
    assert api.get(f"/v1/jobs/{kept['id']}/results").status_code == 200
    assert api.get(f"/v1/graphs/{graph_id}").status_code == 200  # graphs are kept until deleted
