"""One delivery attempt as the worker makes it: the address checked again at delivery, and what follows."""

from __future__ import annotations

from dataclasses import replace

from tests.api.helpers import complete
from tests.api.test_webhooks import Listener
from tests.conftest import Client
from worker.deliveries import post_delivery


def _owed_delivery(make_app, settings, keys, example, url: str) -> tuple[Client, dict, str]:
    """An endpoint registered while private addresses are allowed, and the delivery its job's end queued."""
    api = Client(make_app(settings, webhook_allow_private=True).test_client(), keys["acme"])
    hook = api.post("/v1/webhooks", json={"url": url}).get_json()
    job = api.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    assert complete(settings, job["id"]) == "succeeded"
    [delivery] = api.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    return api, hook, delivery["id"]


def test_an_address_refused_at_delivery_is_never_contacted_and_is_retried_later(make_app, settings, keys, example):
    listener = Listener()
    try:
        api, hook, delivery_id = _owed_delivery(
            make_app, settings, keys, example, f"https://127.0.0.1:{listener.port}/hook"
        )
        public = replace(settings, webhook_allow_private=False)  # the rules changed since registration
        assert post_delivery(public, delivery_id) == "pending"
    finally:
        listener.close()
    assert listener.connections == 0
    [delivery] = api.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert delivery["attempts"] == 1 and delivery["last_status"] is None and delivery["next_attempt_at"]
    assert delivery["last_error"].startswith("refused") and "127.0.0.1 is loopback" in delivery["last_error"]


def test_a_delivery_not_due_or_already_made_is_left_alone(make_app, settings, keys, example):
    listener = Listener()
    try:
        api, hook, delivery_id = _owed_delivery(
            make_app, settings, keys, example, f"http://127.0.0.1:{listener.port}/hook"
        )
        private = replace(settings, webhook_allow_private=True, webhook_read_timeout=0.5)
        assert post_delivery(private, delivery_id) == "pending"  # the listener hangs up: no answer
        assert post_delivery(private, delivery_id) == "not due"  # its retry is 5 s away
    finally:
        listener.close()
    assert listener.connections == 1


def test_a_delivery_given_up_after_its_retry_time(make_app, settings, keys, example):
    api, hook, delivery_id = _owed_delivery(make_app, settings, keys, example, "http://127.0.0.1:9/hook")
    impatient = replace(settings, webhook_allow_private=True, webhook_retry_for=0.0)
    assert post_delivery(impatient, delivery_id) == "failed"  # port 9: refused, and no time left to retry
    [delivery] = api.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert (delivery["state"], delivery["attempts"], delivery["next_attempt_at"]) == ("failed", 1, None)
    assert "refused" in delivery["last_error"]
    assert post_delivery(impatient, delivery_id) == "not due"  # given up for good
