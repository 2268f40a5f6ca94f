"""The limiter's Redis stopped: the service keeps answering, each API process counts on its own, then Redis again.

README "Sharing the service fairly" documents this: the limits library's in-memory fallback,
per process, while the limiter's Redis is unreachable; back to Redis once it answers.
"""

from __future__ import annotations

import time

import redis

from tests.conftest import Client


def _burst(client: Client, count: int) -> list[int]:
    return [client.get("/v1/graphs").status_code for _ in range(count)]


def test_a_stopped_limiter_redis_leaves_the_service_answering_and_limiting(settings, make_app, keys, private_redis):
    app = make_app(settings, rate_limit="4/second", rate_limit_burst=6, rate_limit_storage=private_redis.url)
    acme = Client(app.test_client(), keys["acme"])
    assert _burst(acme, 7) == [200] * 6 + [429]  # counted in the limiter's Redis
    assert redis.Redis.from_url(private_redis.url).keys("*gategraph*")

    private_redis.stop()
    started = time.monotonic()
    assert _burst(acme, 7) == [200] * 6 + [429]  # counted in this process's memory: a fresh count, the same limit
    print(f"7 requests with the limiter's Redis down: {time.monotonic() - started:.3f} s")
    assert acme.post("/v1/graphs", json={"inputs": ["x"], "gates": []}).status_code == 422  # everything else works

    private_redis.start()
    deadline = time.monotonic() + 20
    while not redis.Redis.from_url(private_redis.url).keys("*gategraph*"):  # the new server starts empty
        assert time.monotonic() < deadline, "the limiter never went back to its Redis"
        assert acme.get("/v1/graphs").status_code in (200, 429)
        time.sleep(0.5)
