"""/v1/jobs through Flask's test client; jobs are completed by the worker's runner, in-process."""

import threading
import time

import pytest

from tests.api.helpers import assert_problem, complete


@pytest.fixture
def graph_id(client, example):
    return client.post("/v1/graphs", json=example["graph"]).get_json()["id"]


def submit(client, graph_id, body, **kw):
    return client.post(f"/v1/graphs/{graph_id}/jobs", json=body, **kw)


def test_submit_is_202_with_location_and_retry_after(client, graph_id, example):
    r = submit(client, graph_id, {"inputs": example["inputs"]})
    assert r.status_code == 202
    job = r.get_json()
    assert r.headers["Location"] == f"/v1/jobs/{job['id']}" and r.headers["Retry-After"]
    assert job["status"] == "queued" and job["graph_id"] == graph_id and job["batch_size"] == 1
    assert job["outputs"] is None and job["error"] is None


def test_worked_example_over_http(client, graph_id, example, settings):
    job = submit(client, graph_id, {"inputs": example["inputs"], "output_grads": {"f": 1.0}}).get_json()
    assert complete(settings, job["id"]) == "succeeded"
    r = client.get(f"/v1/jobs/{job['id']}")
    body = r.get_json()
    assert body["status"] == "succeeded" and body["outputs"] == example["expected"]["outputs"]
    assert "Retry-After" not in r.headers and body["started_at"] and body["finished_at"]
    nodes = client.get(f"/v1/jobs/{job['id']}/nodes").get_json()
    assert nodes["next_cursor"] is None
    got = {n["id"]: {k: v for k, v in n.items() if k in ("kind", "value", "grad")} for n in nodes["items"]}
    assert got == example["expected"]["nodes"]


def test_one_step_submission_stores_the_graph(client, example, settings):
    r = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]})
    assert r.status_code == 202
    job = r.get_json()
    assert client.get(f"/v1/graphs/{job['graph_id']}").status_code == 200
    complete(settings, job["id"])
    assert client.get(f"/v1/jobs/{job['id']}").get_json()["outputs"] == {"f": -12.0}


def test_one_step_with_invalid_graph_names_the_path(client, example):
    bad = {**example["graph"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "w"]}]}
    body = assert_problem(client.post("/v1/jobs", json={"graph": bad, "inputs": example["inputs"]}), 422)
    assert body["errors"][0]["path"] == "graph.gates[0].inputs[1]"
    assert client.get("/v1/graphs").get_json()["items"] == []


def test_batch_job(client, graph_id, settings):
    job = submit(
        client, graph_id, {"inputs": {"x": [-2, 1], "y": [5, 2], "z": [-4, 3]}, "output_grads": {"f": [1, 2]}}
    ).get_json()
    assert job["batch_size"] == 2
    complete(settings, job["id"])
    body = client.get(f"/v1/jobs/{job['id']}").get_json()
    assert body["outputs"] == {"f": [-12.0, 9.0]}
    z = client.get(f"/v1/jobs/{job['id']}/nodes/z").get_json()
    assert z == {"id": "z", "kind": "input", "value": [-4.0, 3.0], "grad": [3.0, 6.0]}


@pytest.mark.parametrize(
    "inputs,path,fragment",
    [
        ({"x": 1, "y": 2}, "inputs", "missing 1 input(s)"),
        ({"x": 1, "y": 2, "z": 3, "w": 4}, "inputs.w", "not an input"),
        ({"x": True, "y": 2, "z": 3}, "inputs.x", "boolean"),
        ({"x": "1", "y": 2, "z": 3}, "inputs.x", "string"),
        ({"x": [1], "y": 2, "z": 3}, "inputs", "not a mix"),
        ({"x": [1, 2], "y": [1], "z": [3, 4]}, "inputs", "same length"),
    ],
)
def test_invalid_inputs_are_422_with_path(client, graph_id, inputs, path, fragment):
    body = assert_problem(submit(client, graph_id, {"inputs": inputs}), 422, fragment)
    assert body["errors"][0]["path"] == path


def test_infinite_input_is_422(client, graph_id):
    text = b'{"inputs": {"x": 1e400, "y": 1, "z": 1}}'
    body = assert_problem(
        client.post(f"/v1/graphs/{graph_id}/jobs", data=text, headers={"Content-Type": "application/json"}), 422
    )
    assert body["errors"] == [{"path": "inputs.x", "message": "must be a finite number"}]


def test_output_grads_must_name_outputs(client, graph_id, example):
    body = assert_problem(submit(client, graph_id, {"inputs": example["inputs"], "output_grads": {"q": 1}}), 422)
    assert body["errors"][0]["path"] == "output_grads.q"


def test_unknown_body_field_is_422(client, graph_id, example):
    body = assert_problem(submit(client, graph_id, {"inputs": example["inputs"], "input": 1}), 422)
    assert body["errors"][0]["path"] == "input"


def test_batch_limit_is_named(settings, make_app, keys, example):
    from tests.conftest import Client

    small = Client(make_app(settings, max_batch=2).test_client(), keys["acme"])
    gid = small.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    r = small.post(f"/v1/graphs/{gid}/jobs", json={"inputs": {"x": [1, 2, 3], "y": [1, 2, 3], "z": [1, 2, 3]}})
    assert_problem(r, 422, "max_batch=2")


def test_job_on_unknown_or_foreign_graph_is_404(client, other, graph_id, example):
    assert_problem(submit(other, graph_id, {"inputs": example["inputs"]}), 404, "no graph")
    assert_problem(submit(client, "00000000-0000-0000-0000-000000000000", {"inputs": example["inputs"]}), 404)


def test_idempotency_key_returns_the_original_job(client, graph_id, example):
    headers = {"Idempotency-Key": "abc-123"}
    first = submit(client, graph_id, {"inputs": example["inputs"]}, headers=headers)
    again = submit(client, graph_id, {"inputs": example["inputs"]}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/v1/jobs").get_json()["items"]) == 1


def test_idempotency_key_with_another_body_is_422(client, graph_id, example):
    headers = {"Idempotency-Key": "abc-123"}
    submit(client, graph_id, {"inputs": example["inputs"]}, headers=headers)
    r = submit(client, graph_id, {"inputs": {**example["inputs"], "x": 0}}, headers=headers)
    assert_problem(r, 422, "different request body")


def test_idempotency_keys_are_per_tenant(client, other, example):
    headers = {"Idempotency-Key": "shared-key"}
    mine = client.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers=headers
    ).get_json()
    theirs = other.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers=headers
    ).get_json()
    assert mine["id"] != theirs["id"]
    assert_problem(other.get(f"/v1/jobs/{mine['id']}"), 404)


def test_one_step_replay_does_not_store_a_second_graph(client, example):
    body = {"graph": example["graph"], "inputs": example["inputs"]}
    for _ in range(3):
        client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "k"})
    assert len(client.get("/v1/graphs").get_json()["items"]) == 1


def test_queued_job_carries_retry_after(client, graph_id, example):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    r = client.get(f"/v1/jobs/{job['id']}")
    assert r.get_json()["status"] == "queued" and r.headers["Retry-After"]


def test_wait_returns_as_soon_as_the_job_ends(client, graph_id, example, settings):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    threading.Timer(0.5, complete, (settings, job["id"])).start()
    started = time.monotonic()
    body = client.get(f"/v1/jobs/{job['id']}?wait=20").get_json()
    assert body["status"] == "succeeded"
    assert time.monotonic() - started < 15  # woke on completion, not at the end of the wait


def test_wait_over_the_limit_is_422(client, graph_id, example):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    assert_problem(client.get(f"/v1/jobs/{job['id']}?wait=31"), 422, "MAX_WAIT=30")


def test_cancel_a_queued_job_then_the_worker_skips_it(client, graph_id, example, settings):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    r = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "canceled" and r.get_json()["finished_at"]
    assert complete(settings, job["id"]) == "not claimable"
    assert_problem(client.post(f"/v1/jobs/{job['id']}/cancel"), 409, "already ended")
    assert_problem(client.get(f"/v1/jobs/{job['id']}/nodes"), 409, "canceled")


def test_delete_job(client, graph_id, example, settings):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    complete(settings, job["id"])
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert_problem(client.get(f"/v1/jobs/{job['id']}"), 404)
    assert_problem(client.get(f"/v1/jobs/{job['id']}/nodes/x"), 404)


def test_deleting_a_graph_deletes_its_jobs(client, graph_id, example):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    client.delete(f"/v1/graphs/{graph_id}")
    assert_problem(client.get(f"/v1/jobs/{job['id']}"), 404)


def test_a_graph_deleted_after_its_plan_was_cached_takes_no_more_jobs(client, other, graph_id, example):
    assert submit(client, graph_id, {"inputs": example["inputs"]}).status_code == 202  # the plan is cached now
    assert_problem(submit(other, graph_id, {"inputs": example["inputs"]}), 404)  # cached, but not theirs
    assert client.delete(f"/v1/graphs/{graph_id}").status_code == 204
    assert_problem(submit(client, graph_id, {"inputs": example["inputs"]}), 404, "graph")
    assert_problem(
        submit(client, graph_id, {"inputs": example["inputs"]}, headers={"Idempotency-Key": "k1"}), 404, "graph"
    )


def test_list_jobs_filters_by_status_and_graph(client, graph_id, example, settings):
    ids = [submit(client, graph_id, {"inputs": example["inputs"]}).get_json()["id"] for _ in range(3)]
    complete(settings, ids[0])
    other_graph = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    submit(client, other_graph, {"inputs": example["inputs"]})
    assert [j["id"] for j in client.get("/v1/jobs?status=succeeded").get_json()["items"]] == [ids[0]]
    assert {j["id"] for j in client.get(f"/v1/jobs?graph_id={graph_id}").get_json()["items"]} == set(ids)
    assert len(client.get("/v1/jobs").get_json()["items"]) == 4
    assert_problem(client.get("/v1/jobs?status=done"), 422)


def test_other_tenant_sees_no_jobs(client, other, graph_id, example):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    assert other.get("/v1/jobs").get_json()["items"] == []
    for method, url in [("get", ""), ("post", "/cancel"), ("delete", ""), ("get", "/nodes"), ("get", "/nodes/x")]:
        assert_problem(getattr(other, method)(f"/v1/jobs/{job['id']}{url}"), 404)


def test_broker_down_still_accepts_and_the_job_waits_for_the_sweeper(settings, make_app, keys, example):
    from tests.conftest import Client

    down = Client(make_app(settings, broker_url="redis://127.0.0.1:1/0").test_client(), keys["acme"])
    r = down.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]})
    assert r.status_code == 202
    from service.storage.database import session_factory
    from service.storage.models import Job

    with session_factory(settings.database_url)() as session:
        row = session.get(Job, r.get_json()["id"])
        assert row.status == "queued" and row.enqueued_at is None  # the sweeper's cue


def test_gradient_check_is_reported(client, graph_id, example, settings):
    job = submit(client, graph_id, {"inputs": example["inputs"], "check_gradients": True}).get_json()
    assert job["gradient_check"] is None
    complete(settings, job["id"])
    check = client.get(f"/v1/jobs/{job['id']}").get_json()["gradient_check"]
    assert check["inputs_checked"] == 3 and check["max_rel_error"] < 1e-6 and check["node"] in ("x", "y", "z")


def test_no_gradient_check_unless_asked(client, graph_id, example, settings):
    job = submit(client, graph_id, {"inputs": example["inputs"]}).get_json()
    complete(settings, job["id"])
    body = client.get(f"/v1/jobs/{job['id']}").get_json()
    assert body["gradient_check"] is None and body["stage"] is None and body["progress"] is None  # present, null
