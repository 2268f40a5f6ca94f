"""Job-ended events: a real Redis pub/sub wakes ``?wait=`` at once; without Redis, waits still end by polling."""

import threading
import time
import uuid

import pytest

from service.runtime import job_events
from service.runtime.job_events import Listener, Publisher, channel_for, redis_url
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
        assert waiter.sleep(30) is False  # the poll pause passed; the GET test below shows it is short


def test_the_embedded_brokers_socket_url_is_understood_by_redis_py():
    assert redis_url("redis+socket:///var/gg/redis.sock") == "unix:///var/gg/redis.sock"
    assert redis_url("redis://h:6379/2") == "redis://h:6379/2"


def test_events_flow_through_the_embedded_redis_on_its_unix_socket(tmp_path, queue):
    from service.embedded import Supervisor, start_redis

    supervisor = Supervisor()
    try:
        broker_url = start_redis(supervisor, tmp_path)
        assert broker_url.startswith("redis+socket://")
        listener = subscribed(Listener(broker_url, queue))
        with listener.watch("job-1") as waiter:
            Publisher(broker_url, queue).ended("job-1")
            assert waiter.sleep(30) is True
    finally:
        supervisor.stop_all()


@pytest.fixture
def no_safety_poll(monkeypatch):
    """Waiters that trust the events never read the row on their own: a wait then ends only if told."""
    monkeypatch.setattr(job_events, "SAFETY_POLL", 60.0)


def test_a_wait_ends_with_the_job_when_the_api_cannot_reach_redis(settings, make_app, keys, example, no_safety_poll):
    from tests.conftest import Client

    app = make_app(settings, broker_url="redis://127.0.0.1:1/0")  # no broker: the sweeper would send it; we run it here
    client = Client(app.test_client(), keys["acme"])
    graph_id = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    job = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()
    threading.Timer(0.3, complete, (settings, job["id"])).start()
    body = client.get(f"/v1/jobs/{job['id']}?wait=10").get_json()  # polled: it ends with the job, not at 60 s
    assert body["status"] == "succeeded" and body["outputs"] == {"f": -12.0}


def test_a_cancel_wakes_a_waiting_request(client, example, app):
    graph_id = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    job = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()
    subscribed(app.extensions["gategraph"]["job_events"])
    with app.extensions["gategraph"]["job_events"].watch(job["id"]) as waiter:
        assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        assert waiter.sleep(30) is True


def test_a_wait_is_woken_by_the_worker_that_ends_the_job(client, example, app, settings, no_safety_poll, monkeypatch):
    graph_id = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    job = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()
    subscribed(app.extensions["gategraph"]["job_events"])
    wakes = []
    real_sleep = job_events.Waiter.sleep
    monkeypatch.setattr(
        job_events.Waiter, "sleep", lambda self, most: wakes.append(real_sleep(self, most)) or wakes[-1]
    )
    threading.Timer(0.3, complete, (settings, job["id"])).start()
    body = client.get(f"/v1/jobs/{job['id']}?wait=10").get_json()
    assert body["status"] == "succeeded" and body["outputs"] == {"f": -12.0}
    assert wakes == [True]  # one sleep, ended by the worker's event (not by the 10 s deadline)


def test_a_job_that_fails_and_one_failed_by_the_sweeper_wake_their_waiters(
    client, example, app, settings, no_safety_poll, monkeypatch
):
    from sqlalchemy import update

    import worker.runner as runner
    from service.runtime.job_queue import make_celery
    from service.storage import job_rows
    from service.storage.database import session_factory
    from service.storage.models import Job
    from worker.sweeper import sweep

    listener = subscribed(app.extensions["gategraph"]["job_events"])
    graph_id = client.post("/v1/graphs", json=example["graph"]).get_json()["id"]
    failing, abandoned = (
        client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()["id"]
        for _ in range(2)
    )

    def broken(*_args):
        raise RuntimeError("injected")

    monkeypatch.setattr(runner, "evaluate", broken)
    with listener.watch(failing) as waiter:
        assert complete(settings, failing) == "internal_error"
        assert waiter.sleep(30) is True

    with session_factory(settings.database_url)() as session:  # as if its worker died on its last attempt
        assert job_rows.claim(session, abandoned, job_rows.seconds_ago(60)) is not None
        session.execute(
            update(Job)
            .where(Job.id == abandoned)
            .values(attempts=settings.max_attempts, heartbeat_at=job_rows.seconds_ago(3600))
        )
        session.commit()
    celery = make_celery(settings)
    with listener.watch(abandoned) as waiter:
        sweep(celery)
        assert waiter.sleep(30) is True
    assert client.get(f"/v1/jobs/{abandoned}").get_json()["error"]["code"] == "worker_lost"
