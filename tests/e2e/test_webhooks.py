"""Completion callbacks end to end: real workers (jobs and deliveries), a real receiver on 127.0.0.1,
signatures verified with the Standard Webhooks reference library, retries, 410, and a worker killed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from standardwebhooks import Webhook

from service.runtime.job_events import redis_url
from tests.conftest import Client

FAST_RETRIES = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE": "0.2"}


class Receiver:
    """An HTTP receiver that answers the statuses it is given, in turn (the last one from then on)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.requests = list(statuses), []
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.got:
                    receiver.requests.append((dict(self.headers), body))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                    receiver.got.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, seconds: float = 30) -> list[tuple[dict, bytes]]:
        deadline = time.monotonic() + seconds
        with self.got:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {count} deliveries after {seconds} s"
                self.got.wait(left)
            return list(self.requests)


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(*statuses: int) -> Receiver:
        made.append(Receiver(list(statuses) or [204]))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()


@pytest.fixture
def api(settings, broker_url, make_app, keys) -> Client:
    app = make_app(replace(settings, broker_url=broker_url, webhook_allow_private=True))
    return Client(app.test_client(), keys["acme"])


def register(api: Client, url: str, events: list[str] | None = None) -> dict:
    r = api.post("/v1/webhooks", json={"url": url, **({"events": events} if events else {})})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def deliveries(api: Client, hook: dict) -> list[dict]:
    return api.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]


def settled(api: Client, hook: dict, seconds: float = 20) -> list[dict]:
    """The deliveries once none is pending (the attempt is recorded just after the receiver answers)."""
    deadline = time.monotonic() + seconds
    found = deliveries(api, hook)
    while any(d["state"] == "pending" for d in found) and time.monotonic() < deadline:
        time.sleep(0.1)
        found = deliveries(api, hook)
    return found


def test_a_signed_callback_when_a_job_succeeds(api, start_worker, receiver, example):
    start_worker()
    start_worker(deliveries=True, **FAST_RETRIES)
    to = receiver()
    hook = register(api, to.url)
    job = api.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers={"Prefer": "wait=20"}
    )
    assert job.status_code == 200
    headers, body = to.wait_for(1)[0]
    event = Webhook(hook["secret"]).verify(body, headers)  # raises unless signed with the secret, and recent
    job = job.get_json()
    assert event["type"] == "job.succeeded"
    assert event["data"] == {"job_id": job["id"], "graph_id": job["graph_id"], "status": "succeeded"}
    assert headers["content-type"] == "application/json" and headers["webhook-signature"].startswith("v1,")
    [delivery] = settled(api, hook)
    assert delivery["id"] == headers["webhook-id"] and delivery["job_id"] == job["id"]
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == ("delivered", 1, 204)
    assert [a["status"] for a in delivery["attempt_log"]] == [204]


def test_a_receiver_that_fails_twice_gets_the_event_once_delivered(api, start_worker, receiver, example):
    start_worker()
    start_worker(deliveries=True, **FAST_RETRIES)
    to = receiver(500, 503, 204)
    hook = register(api, to.url, ["job.succeeded"])
    api.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers={"Prefer": "wait=20"})
    got = to.wait_for(3)
    assert len({h["webhook-id"] for h, _ in got}) == 1 and len({b for _, b in got}) == 1  # one event, three tries
    for headers, body in got:
        Webhook(hook["secret"]).verify(body, headers)
    [delivery] = settled(api, hook)
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert [a["status"] for a in delivery["attempt_log"]] == [500, 503, 204]
    moments = [datetime.fromisoformat(a["at"].replace("Z", "+00:00")) for a in delivery["attempt_log"]]
    gaps = [(b - a).total_seconds() for a, b in zip(moments, moments[1:], strict=False)]
    print(f"gaps between attempts: {gaps} s (waits of 0.2 s, then 0.6 s, plus up to a sweep of 0.5 s)")
    assert gaps[0] >= 0.2 and gaps[1] >= 0.6  # growing waits
    time.sleep(2)
    assert len(to.requests) == 3  # delivered: never again


def test_410_gone_disables_the_endpoint(api, start_worker, receiver, example):
    start_worker()
    start_worker(deliveries=True, **FAST_RETRIES)
    to = receiver(410)
    hook = register(api, to.url)
    request = {"graph": example["graph"], "inputs": example["inputs"]}
    api.post("/v1/jobs", json=request, headers={"Prefer": "wait=20"})
    to.wait_for(1)
    [delivery] = settled(api, hook)
    assert delivery["state"] == "canceled" and delivery["last_status"] == 410
    shown = api.get(f"/v1/webhooks/{hook['id']}").get_json()
    assert shown["disabled_at"] is not None and "410" in shown["disabled_reason"]
    assert api.post("/v1/jobs", json=request, headers={"Prefer": "wait=20"}).status_code == 200
    time.sleep(2)
    assert len(to.requests) == 1 and len(deliveries(api, hook)) == 1  # nothing more is owed to it


def test_canceled_and_failed_jobs_are_told_to_their_subscribers(api, start_worker, receiver, example):
    start_worker(deliveries=True, **FAST_RETRIES)  # no job worker: the job stays queued until canceled
    to, others = receiver(), receiver()
    register(api, to.url, ["job.canceled"])
    register(api, others.url, ["job.succeeded", "job.failed"])
    job = api.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    assert api.post(f"/v1/jobs/{job['id']}/cancel").get_json()["status"] == "canceled"
    _, body = to.wait_for(1)[0]
    assert json.loads(body)["type"] == "job.canceled" and json.loads(body)["data"]["status"] == "canceled"
    time.sleep(1)
    assert others.requests == []


def test_a_worker_killed_right_after_the_job_ends_still_leads_to_a_delivery(
    api, start_worker, receiver, example, broker_url, settings
):
    """The job's worker dies at once and the delivery's message is lost: the sweeper still sends it."""
    jobs = start_worker()
    to = receiver()
    hook = register(api, to.url)
    r = api.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}, headers={"Prefer": "wait=20"}
    )
    assert r.status_code == 200
    os.killpg(jobs.process.pid, signal.SIGKILL)
    jobs.process.wait()
    redis.Redis.from_url(redis_url(broker_url)).delete(settings.delivery_queue)  # the message is gone too
    start_worker(deliveries=True, **FAST_RETRIES)  # STALE_QUEUED_AFTER=4: its sweeper sends the delivery again
    headers, body = to.wait_for(1, seconds=40)[0]
    assert Webhook(hook["secret"]).verify(body, headers)["data"]["job_id"] == r.get_json()["id"]
    assert settled(api, hook)[0]["state"] == "delivered"
