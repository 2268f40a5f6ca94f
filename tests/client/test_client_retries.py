"""The client's retry policy, against a real HTTP server that is briefly unavailable."""

import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from service.client import ApiError, Client


@pytest.fixture
def flaky():
    """A server that answers 503 (Retry-After: 0) twice, then 200; it records what it was sent."""
    seen = []

    @Request.application
    def app(request):
        seen.append((request.method, request.path, request.headers.get("Idempotency-Key")))
        if len(seen) <= 2:
            return Response(
                '{"title": "busy", "detail": "later"}',
                503,
                {"Retry-After": "0"},
                content_type="application/problem+json",
            )
        return Response('{"id": "j1", "status": "queued"}', 202, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_retries_on_503_keep_the_same_idempotency_key(flaky):
    url, seen = flaky
    job = Client(url, "k", retries=3, backoff=0.01).submit("g1", {"x": 1})
    assert job["id"] == "j1" and len(seen) == 3
    assert len({key for _, _, key in seen}) == 1 and seen[0][2]


def test_gives_up_after_its_retries(flaky):
    url, seen = flaky
    with pytest.raises(ApiError) as info:
        Client(url, "k", retries=1, backoff=0.01).job("j1")
    assert info.value.status == 503 and len(seen) == 2
