"""Fuzzing through HTTP: random bodies, strings, keys and cursors get a problem+json 4xx (or a 2xx when
the mutation happened to leave the body valid), never a 5xx.

CI loads the derandomized "ci" profile (tests/conftest.py), so it explores the same examples every run.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.graph.fuzz_strategies import (
    VALID,
    assignments,
    dumps,
    json_values,
    mutated_definitions,
    strings,
)

# -- through HTTP ---------------------------------------------------------------------------------

HTTP = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: places in a valid one-step job request where any string may go, as a value or as an object key
STRING_PLACES = [
    "name",
    "inputs.0",
    "gates.0.id",
    "gates.1.inputs.0",
    "gates.0.op",
    "outputs.0",
    "constants.*",
    "job.*",
    "grads.*",
]


def _with_string_at(place: str, text: str) -> dict:
    """A valid one-step job request with ``text`` at ``place`` (``*``: as a new key)."""
    request = {"graph": copy.deepcopy(VALID), "inputs": {"x": 1, "y": 2, "z": 3}, "output_grads": {"f": 1}}
    *steps, last = place.split(".")
    node = (
        request["inputs"] if steps == ["job"] else request["output_grads"] if steps == ["grads"] else request["graph"]
    )
    for step in steps if steps and steps[0] not in ("job", "grads") else []:
        node = node[int(step) if step.isdigit() else step]
    if last == "*":
        node[text] = 1
    else:
        node[int(last) if last.isdigit() else last] = text
    return request


bodies = st.one_of(
    json_values.map(lambda v: dumps(v).encode()),
    mutated_definitions().map(lambda v: dumps(v).encode()),
    st.builds(lambda d, i: dumps({"graph": d, "inputs": i}).encode(), mutated_definitions(), assignments),
    st.binary(max_size=100),
)


def assert_answer(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == response.status_code
        assert all(isinstance(e["path"], str) and e["message"] for e in body.get("errors", []))


@HTTP
@given(body=bodies, url=st.sampled_from(["/v1/graphs", "/v1/jobs"]))
def test_random_bodies_get_a_problem_never_a_5xx(client, body, url):
    assert_answer(client.post(url, data=body, headers={"Content-Type": "application/json"}))


@settings(HTTP, max_examples=60)
@given(place=st.sampled_from(STRING_PLACES), text=strings, url=st.sampled_from(["/v1/graphs", "/v1/jobs"]))
def test_any_string_anywhere_gets_an_answer_never_a_5xx(client, place, text, url):
    """On both databases: PostgreSQL text holds no NUL, SQLite and orjson no lone surrogate."""
    request = _with_string_at(place, text)
    body = request["graph"] if url == "/v1/graphs" else request
    assert_answer(client.post(url, data=dumps(body).encode(), headers={"Content-Type": "application/json"}))


header_values = st.one_of(
    st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=300),
    st.sampled_from(["\x00", "k\x00y", "\x7f", "\t", "é", "k" * 255, "k" * 256]),
)


@settings(HTTP, max_examples=40)
@given(key=header_values)
def test_any_idempotency_key_gets_an_answer_never_a_5xx(client, key):
    request = {"graph": VALID, "inputs": {"x": 1, "y": 2, "z": 3}}
    assert_answer(client.post("/v1/jobs", json=request, headers={"Idempotency-Key": key}))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deep_nesting_through_http_is_422_naming_the_limit(client):
    deep = b"[" * 50_000 + b"]" * 50_000
    body = b'{"name": ' + deep + b', "inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "x"]}]}'
    for url in ("/v1/graphs", "/v1/jobs"):
        response = client.post(url, data=body, headers={"Content-Type": "application/json"})
        assert_answer(response)
        assert response.status_code == 422 and "MAX_JSON_DEPTH=1024" in response.get_json()["detail"]


@settings(HTTP, max_examples=60)
@given(
    state=json_values, raw=st.one_of(st.none(), st.text(max_size=30)), url=st.sampled_from(["/v1/graphs", "/v1/jobs"])
)
def test_any_cursor_gets_an_answer_never_a_5xx(client, state, raw, url):
    """A cursor is ours to give out; anything else (a NUL in an id, a far date, garbage) is a 422."""
    import base64

    if raw is None:
        raw = base64.urlsafe_b64encode(dumps(state).encode("utf-8", "surrogatepass")).decode().rstrip("=")
    assert_answer(client.get(url, query_string={"cursor": raw}))


@pytest.mark.parametrize(
    "state",
    [
        ["2024-01-01T00:00:00", "a\x00b"],
        ["9999-12-31T23:59:59+14:00", "00000000-0000-0000-0000-000000000000"],
        ["0001-01-01", "00000000-0000-0000-0000-000000000000"],
        [None, None],
        [1, 2],
    ],
)
def test_hostile_cursors_are_422_or_pages(client, state):
    from service.api.cursors import encode_cursor

    for url in ("/v1/graphs", "/v1/jobs"):
        assert_answer(client.get(url, query_string={"cursor": encode_cursor(state)}))
