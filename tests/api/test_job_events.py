"""Job-ended events: a real Redis pub/sub wakes ``?wait=`` at once; without Redis, waits still end by polling."""
import threading
import time
import uuid

import pytest

from service.job_events import Listener, Publisher, channel_for, redis_url
from tests.api.helpers import complete
from tests.conftest import REDIS_URL


def subscribed(listener: Listener) -> Listener:
    with listener.watch("warm-up"):  # starts the thread
        deadline = time.monotonic() + 10
        while not listener.subscribed and time.monotonic() < deadline:
            time.sleep(0.01)
    assert listener.subscribed, "the listener never subscribed to a running Redis"
    return listener


@pytest.fixture
def queue() -> str:
    return f"events-{uuid.uuid4().hex[:8]}"


def test_an_ended_job_wakes_the_requests_waiting_on_it_and_no_other(queue):
    listener = subscribed(Listener(REDIS_URL, queue))
    with listener.watch("job-1") as first, listener.watch("job-1") as second, listener.watch("job-2") as other:
        Publisher(REDIS_URL, queue).ended("job-1")
        assert first.sleep(30) is True and second.sleep(30) is True  # woken, not timed out
        assert other.sleep(0.05) is False


def test_deployments_on_one_redis_do_not_wake_each_other(queue):
    listener = subscribed(Listener(REDIS_URL, queue))
    with listener.watch("job-1") as waiter:
        Publisher(REDIS_URL, queue + "-elsewhere").ended("job-1")
        assert waiter.sleep(0.2) is False
    assert channel_for(queue) != channel_for(queue + "-elsewhere")


def test_without_redis_publishing_is_silent_and_waiters_poll():
    Publisher("redis://127.0.0.1:1/0", "q").ended("job-1")  # nothing listens there: no exception
    listener = Listener("redis://127.0.0.1:1/0", "q")
    with listener.watch("job-1") as waiter:
        assert not listener.subscribed
        started = time.perf_counter()
        assert waiter.sleep(30) is False  # a short poll pause, not the whole wait
        assert time.perf_counter() - started < 5


def test_the_embedded_brokers_socket_url_is_understood_by_redis_py():
    assert redis_url("redis+socket:///var/gg/redis.sock") == "unix:///var/gg/redis.sock"
    assert redis_url("redis://h:6379/2") == "redis://h:6379/2"


def test_a_wait_ends_with_the_job_when_the_api_cannot_reach_redis(settings, make_app, keys, example):
    from tests.conftest import Client

    app = make_app(settings, broker_url="redis://127.0.0.1:1/0")  # no broker: the sweeper would send it; we run it here
    client = Client(app.test_client(), keys["acme"])
    graph_id = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    job = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()
    threading.Timer(0.3, complete, (settings, job["id"])).start()
    body = client.get(f"/v1/jobs/{job['id']}?wait=20").get_json()
    assert body["status"] == "succeeded" and body["outputs"] == {"f": -12.0}


def test_a_cancel_wakes_a_waiting_request(client, example, app):
    graph_id = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    job = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()
    subscribed(app.extensions["gategraph"]["job_events"])
    with app.extensions["gategraph"]["job_events"].watch(job["id"]) as waiter:
        assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        assert waiter.sleep(30) is True
