"""Jobs with a direction (``tangents``): every node item carries its tangent and its gradient's tangent."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_problem, complete, node_pages
from tests.api.test_nodes import chain
from tests.oracle import exact_directional

ALONG_X = {"x": 1}
# SPEC.md "Directions and curvature": along x, tangent(q) = 1, tangent(f) = z = -4, grad_tangent(z) = 1, the others 0
SPEC_ALONG_X = {
    "x": (1.0, 0.0),
    "y": (0.0, 0.0),
    "z": (0.0, 1.0),
    "q": (1.0, 0.0),
    "f": (-4.0, 0.0),
}


def _submit(client, settings, body, path="/v1/jobs", headers=None):
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert complete(settings, job["id"]) == "succeeded"
    return job


def test_worked_example_along_x_answers_as_spec_states(client, settings, example):
    job = _submit(client, settings, {"graph": example["graph"], "inputs": example["inputs"], "tangents": ALONG_X})
    items = client.get(f"/v1/jobs/{job['id']}/nodes").get_json()["items"]
    assert {n["id"]: (n["tangent"], n["grad_tangent"]) for n in items} == SPEC_ALONG_X
    plain = {n["id"]: (n["value"], n["grad"]) for n in items}
    assert plain == {k: (v["value"], v["grad"]) for k, v in example["expected"]["nodes"].items()}
    assert client.get(f"/v1/jobs/{job['id']}/nodes/q").get_json() == {
        "id": "q",
        "kind": "gate",
        "op": "add",
        "value": 3.0,
        "grad": -4.0,
        "tangent": 1.0,
        "grad_tangent": 0.0,
    }
    ranked = client.get(f"/v1/jobs/{job['id']}/nodes?order=-abs_grad&limit=1").get_json()["items"]
    assert ranked == [{"id": "x", "kind": "input", "value": -2.0, "grad": -4.0, "tangent": 1.0, "grad_tangent": 0.0}]


def test_two_step_submission_and_a_job_without_a_direction(client, settings, example):
    graph = client.post("/v1/graphs", json=example["graph"]).get_json()
    job = _submit(
        client, settings, {"inputs": example["inputs"], "tangents": ALONG_X}, f"/v1/graphs/{graph['id']}/jobs"
    )
    items = client.get(f"/v1/jobs/{job['id']}/nodes").get_json()["items"]
    assert {n["id"]: (n["tangent"], n["grad_tangent"]) for n in items} == SPEC_ALONG_X
    plain = _submit(client, settings, {"inputs": example["inputs"]}, f"/v1/graphs/{graph['id']}/jobs")
    for item in client.get(f"/v1/jobs/{plain['id']}/nodes").get_json()["items"]:
        assert set(item) <= {"id", "kind", "op", "value", "grad"}  # exactly as before directions existed


def test_a_batch_gives_arrays_and_non_finite_numbers_as_strings(client, settings):
    definition = {
        "inputs": ["x", "y"],
        "gates": [{"id": "s", "op": "mul", "inputs": ["x", "x"]}, {"id": "f", "op": "mul", "inputs": ["s", "y"]}],
    }
    body = {"graph": definition, "inputs": {"x": [3, 1e200], "y": [2, 1]}, "tangents": {"x": [1, 1], "y": 0.5}}
    job = _submit(client, settings, body)
    items = {n["id"]: n for n in client.get(f"/v1/jobs/{job['id']}/nodes").get_json()["items"]}
    # f = x^2 y: tangent = 2xy dx + x^2 dy; grad(x) = 2xy, its tangent 2y dx + 2x dy
    assert items["f"]["tangent"] == [2 * 3 * 2 + 9 * 0.5, "Infinity"]
    assert items["x"]["grad_tangent"] == [2 * 2 + 2 * 3 * 0.5, 2 + 1e200]
    assert items["y"]["tangent"] == [0.5, 0.5] and items["y"]["grad_tangent"][0] == 2 * 3


def test_pages_across_chunks_equal_the_dual_number_oracle(client, settings):
    definition, inputs, direction = chain(20_000), {"x": 0.5, "y": 1.0}, {"x": 1, "y": -1}  # over two chunks
    job = _submit(client, settings, {"graph": definition, "inputs": inputs, "tangents": direction})
    items = node_pages(client, job["id"], 7000)
    _, _, tangents, grad_tangents = exact_directional(definition, inputs, direction)
    assert {n["id"]: n["tangent"] for n in items} == {k: float(v) for k, v in tangents.items()}
    assert {n["id"]: n["grad_tangent"] for n in items} == {k: float(v) for k, v in grad_tangents.items()}


@pytest.mark.parametrize(
    "tangents, path, fragment",
    [
        ({"w": 1}, "tangents.w", "is not an input of this graph"),
        ({"f": 1}, "tangents.f", "is not an input of this graph"),
        ({"x": "NaN"}, "tangents.x", "number"),
        ({"x": True}, "tangents.x", "number"),
        ({"x": [1, 2]}, "tangents.x", "number"),
        ([1, 2], "tangents", "object"),
    ],
)
def test_bad_directions_are_422_with_their_paths(client, example, tangents, path, fragment):
    response = client.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"], "tangents": tangents}
    )
    body = assert_problem(response, 422, fragment)
    assert path in {e["path"] for e in body["errors"]}, body


def test_a_batch_direction_of_the_wrong_length_is_named(client, example):
    body = {"graph": example["graph"], "inputs": {"x": [1, 2], "y": [1, 2], "z": [1, 2]}, "tangents": {"z": [1]}}
    problem = assert_problem(client.post("/v1/jobs", json=body), 422, "has 1 values; the batch size is 2")
    assert [e["path"] for e in problem["errors"]] == ["tangents.z"]


def test_a_replay_with_another_direction_is_refused(client, settings, example):
    body = {"graph": example["graph"], "inputs": example["inputs"], "tangents": ALONG_X}
    first = _submit(client, settings, body, headers={"Idempotency-Key": "dir-1"})
    again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "dir-1"})
    assert again.get_json()["id"] == first["id"]
    other = client.post("/v1/jobs", json={**body, "tangents": {"y": 1}}, headers={"Idempotency-Key": "dir-1"})
    assert_problem(other, 422, "different request body")
