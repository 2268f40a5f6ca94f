"""/metrics, request ids and structured logs."""

import json
import logging

from tests.api.helpers import complete


def test_metrics_count_requests_by_route_and_jobs_by_state(client, anonymous, example, settings):
    job = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    complete(settings, job["id"])
    client.get(f"/v1/jobs/{job['id']}")
    text = anonymous.get("/metrics").get_data(as_text=True)
    assert 'gategraph_http_requests_total{method="GET",route="/v1/jobs/<uuid:job_id>",status="200"}' in text
    assert 'gategraph_jobs{state="succeeded"} 1.0' in text and 'gategraph_jobs{state="queued"} 0.0' in text
    assert "gategraph_queue_depth" in text and "gategraph_http_request_seconds_bucket" in text
    assert "gategraph_job_stage_seconds_bucket" in text and "gategraph_result_nodes_written_total" in text
    assert job["id"] not in text  # routes, never raw paths with ids


def test_request_id_is_echoed_or_made_up(client):
    assert client.get("/v1/graphs", headers={"X-Request-ID": "abc.123"}).headers["X-Request-ID"] == "abc.123"
    made = client.get("/v1/graphs", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()


def test_logs_are_json_lines_with_request_id_and_never_keys_or_inputs(client, example, capfd):
    capfd.readouterr()
    client.post(
        "/v1/jobs",
        json={"graph": example["graph"], "inputs": {"x": 987654321, "y": 5, "z": -4}},
        headers={"X-Request-ID": "trace-me"},
    )
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "gategraph.access"]
    assert access and access[-1]["request_id"] == "trace-me" and access[-1]["status"] == 202
    assert "987654321" not in err and client.key not in err
    assert logging.getLogger("gategraph").handlers
