"""Sharing the service fairly, through HTTP, on both databases with real Redis counting.

- MAX_QUEUED_PER_TENANT: a tenant at its cap gets 429 with Retry-After and the IETF RateLimit
  fields; under it nothing is refused; another tenant is unaffected; a replay is not a new job;
- RATE_LIMIT per key, with its burst: over it 429 with the same fields, answers under it carry
  RateLimit-Policy; another key, health, metrics and the document are not limited;
- retention: ``ttl_seconds`` over JOB_TTL is 422, and an ended job says when it expires.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.api.helpers import assert_problem, complete
from tests.conftest import Client

GRAPH = {"inputs": ["x"], "gates": [{"id": "f", "op": "add", "inputs": ["x", "x"]}]}
POLICY = re.compile(r'"per-key";q=(\d+);w=(\d+)')


def _submit(client: Client, graph_id: str, **extra):
    return client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": 1}, **extra})


def _assert_429(response, policy: str, fragment: str) -> int:
    body = assert_problem(response, 429, fragment)
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert response.headers["RateLimit"] == f'"{policy}";r=0;t={retry_after}'
    assert f'"{policy}";q=' in response.headers["RateLimit-Policy"]
    return body


@pytest.fixture
def capped(settings, make_app, keys):
    """Two tenants' clients on an app whose tenants may have 3 jobs queued or running."""
    app = make_app(settings, max_queued_per_tenant=3)
    return Client(app.test_client(), keys["acme"]), Client(app.test_client(), keys["other"])


def test_a_tenant_at_its_cap_is_refused_until_its_jobs_end(capped, settings):
    acme, other = capped
    graph_id = acme.post("/v1/graphs", json=GRAPH).get_json()["id"]
    jobs = [_submit(acme, graph_id) for _ in range(3)]
    assert [r.status_code for r in jobs] == [202, 202, 202]  # under the cap: nothing refused
    _assert_429(_submit(acme, graph_id), "queued-jobs", "MAX_QUEUED_PER_TENANT=3")
    _assert_429(acme.post("/v1/jobs", json={"graph": GRAPH, "inputs": {"x": 1}}), "queued-jobs", "3 jobs")
    assert acme.get("/v1/graphs").get_json()["items"][0]["id"] == graph_id  # the refused one-step stored no graph
    assert_problem(_submit(acme, graph_id, inputs={}), 422, "missing 1 input(s)")  # a bad body is named even at the cap
    other_graph = other.post("/v1/graphs", json=GRAPH).get_json()["id"]
    assert _submit(other, other_graph).status_code == 202  # another tenant is unaffected
    assert complete(settings, jobs[0].get_json()["id"]) == "succeeded"
    assert _submit(acme, graph_id).status_code == 202  # room again


def test_a_replay_at_the_cap_is_the_original_job_not_a_refusal(capped):
    acme, _ = capped
    graph_id = acme.post("/v1/graphs", json=GRAPH).get_json()["id"]
    first = acme.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": 1}}, headers={"Idempotency-Key": "k"})
    for _ in range(2):
        _submit(acme, graph_id)
    replay = acme.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": 1}}, headers={"Idempotency-Key": "k"})
    assert replay.status_code == 202 and replay.get_json()["id"] == first.get_json()["id"]


@pytest.fixture
def limited(settings, make_app, keys):
    """Two keys' clients on an app allowing 4 requests a second per key, with a burst of 6 (6 in 2 s)."""
    app = make_app(settings, rate_limit="4/second", rate_limit_burst=6)
    return app, Client(app.test_client(), keys["acme"]), Client(app.test_client(), keys["other"])


def test_a_key_over_its_rate_is_refused_with_the_ietf_fields(limited):
    app, acme, other = limited
    answers = [acme.get("/v1/graphs") for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 6  # the burst
    assert POLICY.fullmatch(answers[0].headers["RateLimit-Policy"]).groups() == ("6", "2")
    refused = acme.get("/v1/graphs")
    body = _assert_429(refused, "per-key", "more than 6 requests in 2 s (RATE_LIMIT)")
    assert int(refused.headers["Retry-After"]) <= 2 and body["type"].endswith("rate-limited")
    assert other.get("/v1/graphs").status_code == 200  # another key has its own count
    for path in ("/healthz", "/metrics", "/openapi.json"):
        assert all(app.test_client().get(path).status_code == 200 for _ in range(10)), path
        assert "RateLimit-Policy" not in app.test_client().get(path).headers


def test_a_wrong_secret_does_not_spend_a_real_keys_requests(limited, keys):
    app, acme, _ = limited
    forged = Client(app.test_client(), keys["acme"][:-4] + "AAAA")
    assert all(forged.get("/v1/graphs").status_code in (401, 429) for _ in range(10))
    assert acme.get("/v1/graphs").status_code == 200


def test_requests_at_the_rate_are_never_refused(limited):
    """Two requests every second for 3 seconds: within 4/second, so every one is answered."""
    import time

    _, acme, _ = limited
    started = time.monotonic()
    for i in range(6):
        time.sleep(max(0.0, started + i * 0.5 - time.monotonic()))
        assert acme.get("/v1/graphs").status_code == 200, i


def test_ttl_over_the_maximum_is_422_and_an_ended_job_says_when_it_goes(client, settings):
    graph_id = client.post("/v1/graphs", json=GRAPH).get_json()["id"]
    over = _submit(client, graph_id, ttl_seconds=settings.job_ttl + 1)
    assert_problem(over, 422, f"over the limit JOB_TTL={settings.job_ttl}")
    assert_problem(_submit(client, graph_id, ttl_seconds=0), 422, "ttl_seconds")
    assert_problem(_submit(client, graph_id, ttl_seconds=1.5), 422, "ttl_seconds")
    job = _submit(client, graph_id, ttl_seconds=120).get_json()
    assert job["expires_at"] is None  # not ended
    assert complete(settings, job["id"]) == "succeeded"
    ended = client.get(f"/v1/jobs/{job['id']}").get_json()
    finished, expires = (datetime.fromisoformat(ended[k]) for k in ("finished_at", "expires_at"))
    assert expires - finished == timedelta(seconds=120)
    default = _submit(client, graph_id).get_json()
    complete(settings, default["id"])
    ended = client.get(f"/v1/jobs/{default['id']}").get_json()
    finished, expires = (datetime.fromisoformat(ended[k]) for k in ("finished_at", "expires_at"))
    assert expires - finished == timedelta(seconds=settings.job_ttl)


def test_operators_see_each_tenants_jobs_by_state_and_stored_numbers(client, other, settings):
    from click.testing import CliRunner

    from service.cli import main

    graph_id = client.post("/v1/graphs", json=GRAPH).get_json()["id"]  # 2 nodes: x and f
    batch = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": [1, 2, 3]}}).get_json()
    assert complete(settings, batch["id"]) == "succeeded"  # 2 nodes x 3 items, values and gradients: 12
    along = _submit(client, graph_id, tangents={"x": 1}).get_json()
    assert complete(settings, along["id"]) == "succeeded"  # 2 nodes, with tangents and their gradients': 8
    _submit(client, graph_id)  # queued
    other_graph = other.post("/v1/graphs", json=GRAPH).get_json()["id"]
    _submit(other, other_graph)

    env = {"DATABASE_URL": settings.database_url, "GATEGRAPH_HOME": settings.home}
    result = CliRunner().invoke(main, ["usage"], env=env)
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert lines[0] == ["tenant", "queued", "running", "succeeded", "failed", "canceled", "stored_numbers"]
    assert lines[1:] == [["acme", "1", "0", "2", "0", "0", "20"], ["other", "1", "0", "0", "0", "0", "0"]]
    only = CliRunner().invoke(main, ["usage", "--tenant", "other"], env=env).output.splitlines()
    assert len(only) == 2 and only[1].startswith("other\t")
    metrics = client.raw.get("/metrics").get_data(as_text=True)
    assert "gategraph_stored_numbers 20.0" in metrics
