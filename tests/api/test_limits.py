"""Hostile input through HTTP: every limit refused with its status and named, nothing read whole.

- a body over MAX_BODY_BYTES is 413 before it is read: with a Content-Length over the limit (and a
  small actual stream), and streamed without a Content-Length (chunked), where reading stops at
  the limit;
- content over a limit is 422 naming the limit and its value: gates, inputs of one gate, inputs
  and constants, id length, name length, JSON nesting depth, batch size, nodes x batch size,
  page size, wait; a body with thousands of problems lists the first 100 and counts them all.

Small limits come from ``make_app(settings, max_gates=...)``.
"""

from __future__ import annotations

import io
import json

import pytest
from flask import Response
from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.api.helpers import assert_problem
from tests.conftest import Client

GRAPH = {
    "inputs": ["x", "y", "z"],
    "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}],
}
INPUTS = {"x": -2, "y": 5, "z": -4}
LIMIT = 4096  # MAX_BODY_BYTES of the small app


class EndlessBody(io.RawIOBase):
    """A request body that never ends (or ends after ``total`` bytes), counting what is read of it."""

    def __init__(self, total: int | None = None):
        self.total, self.read_bytes = total, 0
        self.pattern = b'{"inputs": [' + b'"x", ' * 1000

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = len(buffer) if self.total is None else max(0, min(len(buffer), self.total - self.read_bytes))
        chunk = (self.pattern * (n // len(self.pattern) + 1))[:n]
        buffer[:n] = chunk
        self.read_bytes += n
        return n


@pytest.fixture
def small(settings, make_app, keys) -> Client:
    app = make_app(
        settings,
        max_body_bytes=LIMIT,
        max_gates=3,
        max_gate_inputs=3,
        max_leaves=4,
        max_batch=4,
        max_cells=20,
        max_page=50,
        max_wait=2,
    )
    return Client(app.test_client(), keys["acme"])


@pytest.fixture
def graph_id(small) -> str:
    return small.post("/v1/graphs", json=GRAPH).get_json()["id"]


def body_urls(graph_id: str) -> list[str]:
    return ["/v1/graphs", "/v1/jobs", f"/v1/graphs/{graph_id}/jobs"]


def send_stream(client: Client, url: str, stream: io.RawIOBase, content_length: int | None, terminated: bool):
    """POST ``stream`` as the WSGI input, with a Content-Length header or none (as a chunked upload arrives)."""
    headers = {"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"}
    if content_length is None:
        headers["Transfer-Encoding"] = "chunked"
    environ = EnvironBuilder(path=url, method="POST", headers=headers).get_environ()
    environ["wsgi.input"] = stream
    environ.pop("CONTENT_LENGTH", None)
    if content_length is not None:
        environ["CONTENT_LENGTH"] = str(content_length)
    if terminated:  # the server ends the stream itself (gunicorn does, for chunked bodies)
        environ["wsgi.input_terminated"] = True
    app_iter, status, response_headers = run_wsgi_app(client.raw.application, environ, buffered=True)
    return Response(b"".join(app_iter), status=status, headers=response_headers)


# -- the body ---------------------------------------------------------------------------------------


def test_content_length_over_the_limit_is_413_before_reading(small, graph_id):
    for url in body_urls(graph_id):
        stream = EndlessBody(total=10)
        r = send_stream(small, url, stream, content_length=LIMIT + 1, terminated=False)
        assert_problem(r, 413, f"MAX_BODY_BYTES={LIMIT}")
        assert stream.read_bytes == 0, url


def test_a_huge_content_length_is_413_without_reading(small):
    stream = EndlessBody()
    r = send_stream(small, "/v1/graphs", stream, content_length=10**15, terminated=True)
    assert_problem(r, 413, "MAX_BODY_BYTES")
    assert stream.read_bytes == 0


def test_chunked_body_over_the_limit_is_413_and_reading_stops_at_the_limit(small, graph_id):
    for url in body_urls(graph_id):
        stream = EndlessBody()  # never ends: reading it whole would never finish
        r = send_stream(small, url, stream, content_length=None, terminated=True)
        assert_problem(r, 413, f"MAX_BODY_BYTES={LIMIT}")
        assert LIMIT <= stream.read_bytes <= LIMIT + 64 * 1024, (url, stream.read_bytes)


def test_chunked_body_under_the_limit_is_read(small):
    text = json.dumps(GRAPH).encode()
    r = send_stream(small, "/v1/graphs", io.BytesIO(text), content_length=None, terminated=True)
    assert r.status_code == 201, r.get_data(as_text=True)


def test_chunked_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413(small):
    """werkzeug stops reading a stream at the limit without an error: the byte after decides."""
    text = json.dumps(GRAPH).encode()
    text += b" " * (LIMIT - len(text))
    r = send_stream(small, "/v1/graphs", io.BytesIO(text), content_length=None, terminated=True)
    assert r.status_code == 201, r.get_data(as_text=True)
    stream = io.BytesIO(text + b"x")  # valid JSON cut at the limit, invalid whole: never accepted
    assert_problem(
        send_stream(small, "/v1/graphs", stream, content_length=None, terminated=True), 413, "MAX_BODY_BYTES"
    )


def test_chunked_body_from_a_server_that_does_not_end_the_stream_is_not_read(small):
    """Without wsgi.input_terminated the stream's end is unknown: werkzeug reads nothing (an empty body, 400)."""
    stream = EndlessBody()
    r = send_stream(small, "/v1/graphs", stream, content_length=None, terminated=False)
    assert_problem(r, 400, "empty")
    assert stream.read_bytes == 0


def test_body_at_the_limit_is_read(small):
    text = json.dumps({**GRAPH, "name": ""}).encode()
    text = text.replace(b'"name": ""', b'"name": "' + b"n" * 100 + b'"') + b" " * (LIMIT - len(text) - 100)
    assert len(text) == LIMIT
    r = small.post("/v1/graphs", data=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.get_data(as_text=True)
    assert_problem(small.post("/v1/graphs", data=text + b" ", headers={"Content-Type": "application/json"}), 413)


# -- the content -------------------------------------------------------------------------------------


def chain(n: int) -> dict:
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "y"]}]
    gates += [{"id": f"g{i}", "op": "add", "inputs": [f"g{i - 1}", "x"]} for i in range(1, n)]
    return {"inputs": ["x", "y"], "gates": gates}


def both_ways(client: Client, definition: dict, inputs: dict | None = None):
    """The definition POSTed alone and in a one-step job: both answers."""
    inputs = inputs or {i: 1 for i in definition.get("inputs", [])}
    return [
        client.post("/v1/graphs", json=definition),
        client.post("/v1/jobs", json={"graph": definition, "inputs": inputs}),
    ]


def test_too_many_gates_is_422_naming_the_limit(small):
    assert small.post("/v1/graphs", json=chain(3)).status_code == 201
    for r in both_ways(small, chain(4)):
        body = assert_problem(r, 422, "max_gates=3")
        assert body["errors"][0]["path"] in ("gates", "graph.gates")


def test_too_many_inputs_of_one_gate_is_422_naming_the_limit(small):
    wide = {"inputs": ["x", "y"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "y", "x", "y"]}]}
    for r in both_ways(small, wide):
        body = assert_problem(r, 422, "max_gate_inputs=3")
        assert body["errors"][0]["path"].endswith("gates[0].inputs")


def test_too_many_inputs_and_constants_is_422_naming_the_limit(small):
    many = {
        "inputs": ["a", "b", "c"],
        "constants": {"k": 1, "m": 2},
        "gates": [{"id": "q", "op": "add", "inputs": ["a", "b"]}],
    }
    for r in both_ways(small, many):
        assert_problem(r, 422, "max_leaves=4")


def test_id_too_long_is_422_naming_the_limit(small):
    long_id = "x" * 129
    definition = {"inputs": [long_id, "y"], "gates": [{"id": "q", "op": "add", "inputs": [long_id, "y"]}]}
    for r in both_ways(small, definition, {long_id: 1, "y": 2}):
        body = assert_problem(r, 422, "limit is 128")
        assert body["errors"][0]["path"].endswith("inputs[0]")
    assert (
        small.post(
            "/v1/graphs",
            json={"inputs": ["x" * 128, "y"], "gates": [{"id": "q", "op": "add", "inputs": ["x" * 128, "y"]}]},
        ).status_code
        == 201
    )


def test_name_too_long_is_422(small):
    assert_problem(small.post("/v1/graphs", json={**GRAPH, "name": "n" * 201}), 422, "name")


@pytest.mark.parametrize("depth", [1025, 50_000])
def test_nesting_too_deep_is_422_naming_the_limit(small, graph_id, depth):
    deep = b"[" * depth + b"]" * depth
    bodies = {
        "/v1/graphs": b'{"name": '
        + deep
        + b', "inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}',
        "/v1/jobs": b'{"graph": {"inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}, '
        b'"inputs": {"x": ' + deep + b"}}",
        f"/v1/graphs/{graph_id}/jobs": b'{"inputs": {"x": ' + deep + b', "y": 1, "z": 1}}',
    }
    for url, text in bodies.items():
        if len(text) > LIMIT:
            continue  # over the body limit first; the next fixture has room
        body = assert_problem(
            small.post(url, data=text, headers={"Content-Type": "application/json"}), 422, "MAX_JSON_DEPTH=1024"
        )
        assert body["errors"] == [
            {"path": "", "message": "arrays and objects nest deeper than the limit MAX_JSON_DEPTH=1024"}
        ]


def test_nesting_too_deep_in_a_large_body_is_422(client):
    deep = b"[" * 50_000 + b"]" * 50_000
    text = b'{"name": ' + deep + b', "inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}'
    assert_problem(
        client.post("/v1/graphs", data=text, headers={"Content-Type": "application/json"}), 422, "MAX_JSON_DEPTH=1024"
    )


def test_nesting_under_the_limit_in_a_wrong_place_is_an_ordinary_422(client):
    deep = b"[" * 1000 + b"]" * 1000
    text = b'{"name": ' + deep + b', "inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}'
    body = assert_problem(client.post("/v1/graphs", data=text, headers={"Content-Type": "application/json"}), 422)
    assert body["errors"][0]["path"] == "name"


def test_batch_too_large_is_422_naming_the_limit(small, graph_id):
    batch = {k: [1.0] * 5 for k in INPUTS}
    assert_problem(small.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": batch}), 422, "max_batch=4")
    assert_problem(small.post("/v1/jobs", json={"graph": GRAPH, "inputs": batch}), 422, "max_batch=4")


def test_nodes_times_batch_too_large_is_422_naming_the_limit(small, graph_id):
    batch = {k: [1.0] * 4 for k in INPUTS}  # 5 nodes x 4 = 20: at the limit
    assert small.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": batch}).status_code == 202
    bigger = {**GRAPH, "constants": {"c": 1.0}}  # 6 nodes x 4 = 24
    r = small.post("/v1/jobs", json={"graph": bigger, "inputs": batch})
    assert_problem(r, 422, "6 x 4 = 24 is over the limit max_cells=20")


def test_page_size_and_wait_over_their_limits_are_422_naming_them(small):
    assert_problem(small.get("/v1/graphs?limit=51"), 422, "MAX_PAGE=50")
    assert_problem(small.get("/v1/jobs?limit=51"), 422, "MAX_PAGE=50")
    job = small.post("/v1/jobs", json={"graph": GRAPH, "inputs": INPUTS}).get_json()
    assert_problem(small.get(f"/v1/jobs/{job['id']}?wait=3"), 422, "MAX_WAIT=2")


def test_thousands_of_problems_are_listed_up_to_100_and_counted(client):
    bad = {"inputs": [f"bad id {i}" for i in range(5000)], "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}]}
    body = assert_problem(client.post("/v1/graphs", json=bad), 422)
    assert len(body["errors"]) == 100 and body["errors_total"] == 5000
