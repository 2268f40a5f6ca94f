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


def _refused_url() -> str:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_the_cli_fails_fast_on_a_refused_connection_and_names_the_setting():
    import subprocess
    import sys
    import time

    url = _refused_url()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "status", "some-job"],
        env={"GATEGRAPH_URL": url, "GATEGRAPH_API_KEY": "gg_x", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    print(f"refused connection reported after {took:.2f} s (process start included)")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert url in lines[0] and "GATEGRAPH_URL" in lines[0]
    assert took < 10  # generous (a shared machine): the client itself gives up after one quick retry


def test_retry_after_is_waited_for_before_the_retry():
    """A 503 with Retry-After: 1, then 200: the retry comes at least a second later, whatever the backoff."""
    import time

    stamps = []

    @Request.application
    def app(request):
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return Response("{}", 503, {"Retry-After": "1"}, content_type="application/problem+json")
        return Response('{"id": "j1", "status": "queued"}', 200, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert Client(f"http://127.0.0.1:{server.server_port}", "k", backoff=0.01).job("j1")["id"] == "j1"
    finally:
        server.shutdown()
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.95
