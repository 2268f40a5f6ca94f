"""/v1/jobs/{id}/nodes: paging, lookup by id, ranking, non-finite numbers."""

import math

import pytest

from tests.api.helpers import assert_problem, complete, node_pages
from tests.oracle import exact


def chain(n):
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}] + [
        {"id": f"g{i}", "op": "mul" if i % 2 else "add", "inputs": [f"g{i - 1}", "y"]} for i in range(1, n)
    ]
    return {"inputs": ["x", "y"], "gates": gates}


@pytest.fixture
def done_job(client, settings):
    def run(definition, inputs):
        job = client.post("/v1/jobs", json={"graph": definition, "inputs": inputs}).get_json()
        assert complete(settings, job["id"]) == "succeeded"
        return job["id"]

    return run


def test_pages_cover_every_node_once_in_order(client, done_job):
    definition, inputs = chain(40_000), {"x": 0.5, "y": 1.0}  # more than two storage chunks
    job = done_job(definition, inputs)
    seen = node_pages(client, job, 7000)
    assert [n["id"] for n in seen] == ["x", "y"] + [f"g{i}" for i in range(40_000)]
    values, grads = exact(chain(60), inputs)  # the first gates, checked exactly
    for item in seen[2:62]:
        assert item["value"] == float(values[item["id"]]) and item["kind"] == "gate"
        assert item["op"] == ("mul" if int(item["id"][1:]) % 2 else "add")
    assert seen[-1]["grad"] == 1.0


def test_node_by_id(client, done_job, example):
    job = done_job(example["graph"], example["inputs"])
    assert client.get(f"/v1/jobs/{job}/nodes/q").get_json() == {
        "id": "q",
        "kind": "gate",
        "op": "add",
        "value": 3.0,
        "grad": -4.0,
    }
    assert_problem(client.get(f"/v1/jobs/{job}/nodes/nope"), 404, "no node 'nope'")
    assert_problem(client.get(f"/v1/jobs/{job}/nodes/bad%20id"), 404)


def test_ranked_by_absolute_gradient(client, done_job):
    definition = {"inputs": ["a", "b", "c"], "gates": [{"id": "p", "op": "mul", "inputs": ["a", "b", "c"]}]}
    job = done_job(definition, {"a": 1, "b": -10, "c": 3})
    page = client.get(f"/v1/jobs/{job}/nodes?order=-abs_grad&limit=2").get_json()
    assert [(n["id"], n["grad"]) for n in page["items"]] == [("a", -30.0), ("c", -10.0)]
    rest = client.get(f"/v1/jobs/{job}/nodes?order=-abs_grad&limit=2&cursor={page['next_cursor']}").get_json()
    assert [n["id"] for n in rest["items"]] == ["b", "p"] and rest["next_cursor"] is None


def test_non_finite_results_are_strings_in_valid_json(client, done_job):
    definition = {
        "inputs": ["x", "y"],
        "gates": [{"id": "a", "op": "mul", "inputs": ["x", "x"]}, {"id": "b", "op": "mul", "inputs": ["a", "y"]}],
    }
    job = done_job(definition, {"x": 1e200, "y": 0})
    r = client.get(f"/v1/jobs/{job}/nodes")
    text = r.get_data(as_text=True)
    assert "NaN," not in text and "Infinity," not in text.replace('"Infinity"', "")
    items = {n["id"]: n for n in r.get_json()["items"]}
    assert items["a"]["value"] == "Infinity" and items["b"]["value"] == "NaN"
    assert client.get(f"/v1/jobs/{job}").get_json()["outputs"] == {"b": "NaN"}
    assert math.isnan(float(items["b"]["value"]))


def test_nodes_of_an_unfinished_job_is_409_with_retry_after(client, example):
    job = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    r = client.get(f"/v1/jobs/{job['id']}/nodes")
    assert_problem(r, 409, "queued")
    assert r.headers["Retry-After"]
