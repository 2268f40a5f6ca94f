"""/v1/jobs/{id}/results: Arrow, NDJSON and CSV answers equal /nodes; 406, 404, 409; pages bounded by numbers."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import orjson
import pyarrow as pa
import pytest

from service.graph.gc_pause import gc_paused
from service.storage import result_blocks
from tests.api.helpers import assert_problem, complete, node_pages

ARROW, NDJSON, CSV = "application/vnd.apache.arrow.stream", "application/x-ndjson", "text/csv"
NUMBERS = ("value", "grad", "tangent", "grad_tangent")


def chain(n: int) -> dict:
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}] + [
        {"id": f"g{i}", "op": "mul" if i % 2 else "add", "inputs": [f"g{i - 1}", "y"]} for i in range(1, n)
    ]
    return {"inputs": ["x", "y"], "constants": {"k": 2.0}, "gates": gates}


@pytest.fixture
def done_job(client, settings):
    def run(definition: dict, inputs: dict, **more) -> str:
        job = client.post("/v1/jobs", json={"graph": definition, "inputs": inputs, **more}).get_json()
        assert complete(settings, job["id"]) == "succeeded"
        return job["id"]

    return run


def _float(x) -> float:
    return float(x)  # "Infinity", "-Infinity" and "NaN" too


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _as_list(x) -> list:
    return x if isinstance(x, list) else [x]


def normal(items: list[dict]) -> list[tuple]:
    """Items as comparable tuples: numbers as lists of floats (one per assignment)."""
    rows = []
    for item in items:
        numbers = tuple(tuple(_float(x) for x in _as_list(item[k])) for k in NUMBERS if k in item)
        rows.append((item["id"], item["kind"], item.get("op"), numbers))
    return rows


def assert_equal(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:3] == w[:3], (g, w)
        assert len(g[3]) == len(w[3]) and all(
            len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y, strict=True))
            for x, y in zip(g[3], w[3], strict=True)
        ), (g, w)


def from_arrow(data: bytes, batched: bool) -> list[tuple]:
    table = pa.ipc.open_stream(data).read_all()
    for name in ("value", "grad"):
        kind = table.schema.field(name).type
        assert pa.types.is_fixed_size_list(kind) if batched else kind == pa.float64()
    return [
        (r["id"], r["kind"], r["op"], tuple(tuple(_as_list(r[k])) for k in NUMBERS if k in r))
        for r in table.to_pylist()
    ]


def from_ndjson(data: bytes) -> list[tuple]:
    return normal([json.loads(line) for line in data.decode().splitlines()])


def from_csv(data: bytes, batched: bool) -> list[tuple]:
    reader = csv.DictReader(io.StringIO(data.decode()))
    numbers = [k for k in NUMBERS if k in reader.fieldnames]
    assert reader.fieldnames == ["id", "kind", "op", *(["item"] if batched else []), *numbers]
    rows: dict[str, list] = {}
    for r in reader:
        node = rows.setdefault(r["id"], [r["id"], r["kind"], r["op"] or None, [[] for _ in numbers]])
        if batched:
            assert int(r["item"]) == len(node[3][0])
        for column, name in zip(node[3], numbers, strict=True):
            column.append(float(r[name]))
    return [(i, k, o, tuple(tuple(c) for c in cols)) for i, k, o, cols in rows.values()]


def results(client, job: str, accept: str | None) -> bytes:
    r = client.get(f"/v1/jobs/{job}/results", headers={"Accept": accept} if accept else {})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == (accept if accept in (ARROW, CSV) else NDJSON)
    assert int(r.headers["X-Node-Count"]) >= 1
    return r.get_data()


def assert_all_formats_match_nodes(client, job: str, batched: bool) -> None:
    want = normal(node_pages(client, job, 10_000))
    assert_equal(from_arrow(results(client, job, ARROW), batched), want)
    assert_equal(from_ndjson(results(client, job, NDJSON)), want)
    assert_equal(from_ndjson(results(client, job, None)), want)
    assert_equal(from_ndjson(results(client, job, "*/*")), want)
    assert_equal(from_csv(results(client, job, CSV), batched), want)


NON_FINITE = {
    "inputs": ["x", "y"],
    "gates": [{"id": "a", "op": "mul", "inputs": ["x", "x"]}, {"id": "b", "op": "mul", "inputs": ["a", "y"]}],
}


def test_scalar_job_with_non_finite_numbers(client, done_job):
    job = done_job(NON_FINITE, {"x": 1e200, "y": 0})
    assert_all_formats_match_nodes(client, job, batched=False)
    table = pa.ipc.open_stream(results(client, job, ARROW)).read_all()
    assert table.column("value").to_pylist()[2] == math.inf and math.isnan(table.column("value").to_pylist()[3])
    assert table.column("op").to_pylist() == [None, None, "mul", "mul"]
    assert table.column("kind").to_pylist() == ["input", "input", "gate", "gate"]


def test_batch_job(client, done_job):
    job = done_job(NON_FINITE, {"x": [1e200, 2.0, -1.5], "y": [0.0, 3.0, 0.5]}, output_grads={"b": [1.0, 2.0, 0.0]})
    assert_all_formats_match_nodes(client, job, batched=True)
    table = pa.ipc.open_stream(results(client, job, ARROW)).read_all()
    assert table.schema.field("grad").type == pa.list_(pa.float64(), 3)


def test_one_gate_graph(client, done_job):
    job = done_job({"inputs": ["x", "y"], "gates": [{"id": "f", "op": "mul", "inputs": ["x", "y"]}]}, {"x": 4, "y": 3})
    assert_all_formats_match_nodes(client, job, batched=False)
    assert from_ndjson(results(client, job, NDJSON)) == [
        ("x", "input", None, ((4.0,), (3.0,))),
        ("y", "input", None, ((3.0,), (4.0,))),
        ("f", "gate", "mul", ((12.0,), (1.0,))),
    ]


def test_tangent_columns_in_every_format(client, done_job, example):
    job = done_job(example["graph"], example["inputs"], tangents={"x": 1.0, "y": 0.0, "z": 0.0})
    assert_all_formats_match_nodes(client, job, batched=False)
    table = pa.ipc.open_stream(results(client, job, ARROW)).read_all()
    assert table.column_names == ["id", "kind", "op", "value", "grad", "tangent", "grad_tangent"]
    by_id = {r["id"]: r for r in table.to_pylist()}
    assert by_id["f"]["tangent"] == -4.0  # d f / d x along x is z
    assert next(csv.reader(io.StringIO(results(client, job, CSV).decode())))[-2:] == ["tangent", "grad_tangent"]


def test_batch_with_a_direction_has_a_csv_row_per_item_and_the_tangent_columns(client, done_job, example):
    batch = {"x": [-2.0, 1.0], "y": [5.0, 2.0], "z": [-4.0, 3.0]}
    job = done_job(example["graph"], batch, tangents={"x": [1.0, 0.0], "y": [0.0, 1.0], "z": [0.0, 0.0]})
    assert_all_formats_match_nodes(client, job, batched=True)
    lines = results(client, job, CSV).decode().splitlines()
    assert lines[0] == "id,kind,op,item,value,grad,tangent,grad_tangent"
    assert "f,gate,mul,0,-12.0,1.0,-4.0,0.0" in lines and "f,gate,mul,1,9.0,1.0,3.0,0.0" in lines


def test_many_blocks_across_id_rows(client, done_job, monkeypatch):
    """Blocks far smaller than a row of ids: each block's ids still line up with its numbers."""
    monkeypatch.setattr(result_blocks, "BLOCK_NUMBERS", 3_000)
    inputs = {"x": [0.5, -1.0, 0.25], "y": [1.0, 1.0, -1.0]}
    job = done_job(chain(40_000), inputs)  # three rows of ids, 40 blocks
    assert_all_formats_match_nodes(client, job, batched=True)


def test_unsupported_accept_is_406_naming_the_types(client, done_job, example):
    job = done_job(example["graph"], example["inputs"])
    r = client.get(f"/v1/jobs/{job}/results", headers={"Accept": "application/json"})
    body = assert_problem(r, 406, "application/json")
    assert all(t in body["detail"] for t in (ARROW, NDJSON, CSV))
    r = client.get(f"/v1/jobs/{job}/results", headers={"Accept": "text/*"})
    assert r.status_code == 200 and r.mimetype == CSV and r.get_data().startswith(b"id,kind,op,value,grad")
    r = client.get(f"/v1/jobs/{job}/results", headers={"Accept": f"{CSV};q=0.5, {ARROW}"})
    assert r.mimetype == ARROW and pa.ipc.open_stream(r.get_data()).read_all().num_rows == 5


def test_results_follow_the_rules_of_nodes(client, other, example):
    job = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()["id"]
    r = client.get(f"/v1/jobs/{job}/results")
    assert_problem(r, 409, "queued")
    assert r.headers["Retry-After"] == "1"
    assert_problem(other.get(f"/v1/jobs/{job}/results"), 404)
    assert_problem(client.get("/v1/jobs/00000000-0000-4000-8000-000000000000/results"), 404)


def test_results_deleted_before_the_first_block_is_a_404(client, done_job, example, settings):
    """The job's chunks gone between the job's read and the first block (a delete racing the request)."""
    from sqlalchemy import delete

    from service.storage.database import session_factory
    from service.storage.models import JobChunk

    job = done_job(example["graph"], example["inputs"])
    with session_factory(settings.database_url)() as session:
        session.execute(delete(JobChunk).where(JobChunk.job_id == job))
        session.commit()
    assert_problem(client.get(f"/v1/jobs/{job}/results"), 404, "no job")


def test_node_pages_are_bounded_by_numbers(make_app, settings, keys, done_job, client):
    from tests.conftest import Client

    small = Client(make_app(settings, max_page_numbers=7).test_client(), keys["acme"])
    job = done_job(chain(9), {"x": [1.0, 2.0, 3.0], "y": [0.5, 0.5, 2.0]})  # 6 numbers a node: 1 node a page
    page = small.get(f"/v1/jobs/{job}/nodes?limit=100").get_json()
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    assert node_pages(small, job, 100) == node_pages(client, job, 100)
    ranked = small.get(f"/v1/jobs/{job}/nodes?order=-abs_grad&limit=5").get_json()
    assert len(ranked["items"]) == 1


@pytest.mark.slow
def test_a_million_nodes(client, done_job):
    """Compared column by column (the item-by-item comparison of the small jobs would take minutes).

    The collector is paused: with the test's 10^6 items alive, its full passes took most of the time.
    """
    job = done_job(chain(1_000_000), {"x": 0.5, "y": 1.0})
    with gc_paused():
        _formats_equal_pages_of_a_million(client, job)


def _formats_equal_pages_of_a_million(client, job: str) -> None:
    items = node_pages(client, job, 10_000)
    ids = [item["id"] for item in items]
    want = {k: np.array([_float(item[k]) for item in items]) for k in ("value", "grad")}
    table = pa.ipc.open_stream(results(client, job, ARROW)).read_all()
    assert table.column("id").to_pylist() == ids
    assert table.column("op").to_pylist() == [item.get("op") for item in items]
    for k, numbers in want.items():
        np.testing.assert_array_equal(table.column(k).to_numpy(), numbers)
    lines = results(client, job, NDJSON).splitlines()
    assert len(lines) == len(items) and all(orjson.loads(line) == item for line, item in zip(lines, items, strict=True))
    rows = list(csv.reader(io.StringIO(results(client, job, CSV).decode())))
    assert rows[0] == ["id", "kind", "op", "value", "grad"] and [r[0] for r in rows[1:]] == ids
    for column, k in ((3, "value"), (4, "grad")):
        np.testing.assert_array_equal(np.array([float(r[column]) for r in rows[1:]]), want[k])
