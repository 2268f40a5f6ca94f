"""The Python client and the `gategraph` client commands, against the real service over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from service.cli import main
from service.client import ApiError, Client


@pytest.fixture
def client(base_url, keys) -> Client:
    return Client(base_url, keys["acme"], retries=2, backoff=0.05)


def test_client_submits_waits_and_reads_nodes_as_arrays(client, start_worker, example):
    start_worker()
    job = client.submit(example["graph"], example["inputs"])
    done = client.wait(job["id"], timeout=60)
    assert done["status"] == "succeeded" and done["outputs"] == {"f": -12.0}
    ids, values, grads = client.node_arrays(job["id"])
    assert ids == ["x", "y", "z", "q", "f"]
    np.testing.assert_array_equal(grads, [-4, -4, 3, -4, 1])
    assert [n["id"] for n in client.top(job["id"], 2)] == ["x", "y"]


def test_client_submit_with_wait_is_one_round_trip(client, start_worker, example):
    start_worker()
    job = client.submit(example["graph"], example["inputs"], wait=20)
    assert job["status"] == "succeeded" and job["outputs"] == {"f": -12.0}
    chunks = b"".join(client.results(job["id"], "csv")).decode().splitlines()
    assert chunks[0] == "id,kind,op,value,grad" and "f,gate,mul,-12.0,1.0" in chunks


def test_client_batch_and_non_finite_values_as_arrays(client, start_worker):
    start_worker()
    graph = {
        "inputs": ["x", "y"],
        "gates": [{"id": "a", "op": "mul", "inputs": ["x", "x"]}, {"id": "b", "op": "mul", "inputs": ["a", "y"]}],
    }
    job = client.submit(graph, {"x": [1e200, 2.0], "y": [0.0, 3.0]})
    assert client.wait(job["id"], timeout=60)["status"] == "succeeded"
    ids, values, _ = client.node_arrays(job["id"])
    b = values[ids.index("b")]
    assert np.isnan(b[0]) and b[1] == 12.0 and values.shape == (4, 2)


def test_client_directions_through_a_real_worker(client, start_worker, example):
    start_worker()
    job = client.submit(example["graph"], example["inputs"], tangents={"x": 1})
    assert client.wait(job["id"], timeout=60)["status"] == "succeeded"
    arrays = client.node_arrays(job["id"])
    assert arrays.ids == ["x", "y", "z", "q", "f"]
    np.testing.assert_array_equal(arrays.tangents, [1, 0, 0, 1, -4])  # SPEC.md, along x
    np.testing.assert_array_equal(arrays.grad_tangents, [0, 0, 1, 0, 0])
    batch = client.submit(example["graph"], {k: [v, 2 * v] for k, v in example["inputs"].items()}, tangents={"z": 1})
    assert client.wait(batch["id"], timeout=60)["status"] == "succeeded"
    arrays = client.node_arrays(batch["id"])
    # along z: tangent(f) = x + y; grad(x) = grad(y) = z moves by 1; grad(q) = z too
    np.testing.assert_array_equal(arrays.tangents, [[0, 0], [0, 0], [1, 1], [0, 0], [3, 6]])
    np.testing.assert_array_equal(arrays.grad_tangents, [[1, 1], [1, 1], [0, 0], [1, 1], [0, 0]])


def test_a_retried_submission_is_one_job(client, example):
    first = client.submit(example["graph"], example["inputs"], idempotency_key="same")
    again = client.submit(example["graph"], example["inputs"], idempotency_key="same")
    assert first["id"] == again["id"]


def test_client_raises_problems_with_their_paths(client, example):
    with pytest.raises(ApiError) as info:
        client.submit(example["graph"], {"x": 1})
    assert info.value.status == 422 and "inputs: missing" in str(info.value)


def test_client_gives_up_on_an_unreachable_service(keys):
    import requests

    with pytest.raises(requests.ConnectionError):
        Client("http://127.0.0.1:1", keys["acme"], retries=1, backoff=0.01).job("x")


def run_cli(base_url, key, *args):
    return CliRunner().invoke(
        main, list(args), env={"GATEGRAPH_URL": base_url, "GATEGRAPH_API_KEY": key}, catch_exceptions=False
    )


def test_cli_submit_wait_status_nodes_top(base_url, keys, start_worker, example, tmp_path):
    start_worker()
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(example["graph"]))
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(example["inputs"]))
    result = run_cli(base_url, keys["acme"], "submit", str(graph), "--inputs", str(inputs), "--wait", "--ttl", "90000")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout[result.stdout.index("{") :])
    assert job["status"] == "succeeded" and job["outputs"] == {"f": -12.0}
    kept = datetime.fromisoformat(job["expires_at"]) - datetime.fromisoformat(job["finished_at"])
    assert kept == timedelta(seconds=90000)  # --ttl (25 h: over the day its Idempotency-Key is kept)
    assert json.loads(run_cli(base_url, keys["acme"], "status", job["id"]).stdout)["status"] == "succeeded"
    lines = [json.loads(line) for line in run_cli(base_url, keys["acme"], "nodes", job["id"]).stdout.splitlines()]
    assert {n["id"]: n["grad"] for n in lines} == {k: v["grad"] for k, v in example["expected"]["nodes"].items()}
    csv_out = run_cli(base_url, keys["acme"], "nodes", job["id"], "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "id,kind,op,value,grad" and "q,gate,add,3.0,-4.0" in csv_out
    arrow_file = tmp_path / "nodes.arrow"
    assert (
        run_cli(base_url, keys["acme"], "nodes", job["id"], "--format", "arrow", "-o", str(arrow_file)).exit_code == 0
    )
    table = pa.ipc.open_stream(arrow_file.read_bytes()).read_all()
    assert dict(zip(table.column("id").to_pylist(), table.column("value").to_pylist(), strict=True))["f"] == -12.0
    table = run_cli(base_url, keys["acme"], "top", job["id"], "-n", "2").stdout
    assert "x" in table and "-4.0" in table and "f" not in table.split("grad", 1)[1]
    header = table.splitlines()[1].split()
    assert [c for c in header if c.isalpha()] == ["node", "kind", "op", "value", "grad"], table


def test_cli_submits_a_direction_and_prints_its_columns(base_url, keys, start_worker, example, tmp_path):
    start_worker()
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(example["graph"]))
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"inputs": example["inputs"], "tangents": {"x": 1}}))
    result = run_cli(base_url, keys["acme"], "submit", str(graph), "--inputs", str(inputs), "--wait")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout[result.stdout.index("{") :])
    csv_out = run_cli(base_url, keys["acme"], "nodes", job["id"], "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "id,kind,op,value,grad,tangent,grad_tangent"
    assert "f,gate,mul,-12.0,1.0,-4.0,0.0" in csv_out and "z,input,,-4.0,3.0,0.0,1.0" in csv_out
    lines = [json.loads(line) for line in run_cli(base_url, keys["acme"], "nodes", job["id"]).stdout.splitlines()]
    assert {n["id"]: n["tangent"] for n in lines} == {"x": 1.0, "y": 0.0, "z": 0.0, "q": 1.0, "f": -4.0}


def test_cli_csv_inputs_make_a_batch(base_url, keys, start_worker, example, tmp_path):
    start_worker()
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(example))  # a file with a "graph" member works too
    inputs = tmp_path / "batch.csv"
    inputs.write_text("x,y,z\n-2,5,-4\n1,2,3\n")
    result = run_cli(base_url, keys["acme"], "submit", str(graph), "--inputs", str(inputs), "--wait")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{") :])["outputs"] == {"f": [-12.0, 9.0]}


def test_cli_exits_non_zero_on_bad_input_and_failed_jobs(base_url, keys, example, tmp_path):
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(example["graph"]))
    inputs = tmp_path / "bad.csv"
    inputs.write_text("x,y,z\n1,two,3\n")
    result = run_cli(base_url, keys["acme"], "submit", str(graph), "--inputs", str(inputs))
    assert result.exit_code != 0 and "'two' in column 'y' is not a number" in result.output
    inputs.write_text("x,y\n1,2\n")
    result = run_cli(base_url, keys["acme"], "submit", str(graph), "--inputs", str(inputs))
    assert result.exit_code != 0 and "missing 1 input(s)" in result.output
    job = Client(base_url, keys["acme"]).submit(example["graph"], example["inputs"])
    Client(base_url, keys["acme"]).cancel(job["id"])
    assert run_cli(base_url, keys["acme"], "status", job["id"]).exit_code == 1
