"""/v1/webhooks: registration (the secret shown once, stored sealed), the SSRF rules, lists, access, deletion."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import select

from service.storage.database import session_factory
from service.storage.models import Webhook
from tests.api.helpers import assert_problem
from tests.conftest import Client

HOOK = {"url": "https://93.184.216.34/gategraph", "events": ["job.succeeded", "job.failed"]}


@pytest.fixture
def public(make_app, settings, keys) -> Client:
    """The API with the rules of a public deployment: https only, public addresses only."""
    return Client(make_app(settings, webhook_allow_private=False).test_client(), keys["acme"])


def test_registration_shows_the_secret_once_and_stores_it_sealed(public, settings):
    r = public.post("/v1/webhooks", json=HOOK)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == HOOK["events"] and body["disabled_at"] is None
    assert r.headers["Location"] == f"/v1/webhooks/{body['id']}"
    listed = public.get("/v1/webhooks").get_json()
    assert [h["id"] for h in listed["items"]] == [body["id"]] and "secret" not in listed["items"][0]
    assert "secret" not in public.get(f"/v1/webhooks/{body['id']}").get_json()
    with session_factory(settings.database_url)() as session:
        stored = session.scalar(select(Webhook.secret).where(Webhook.id == body["id"]))
    secret_part = body["secret"].removeprefix("whsec_")
    assert secret_part not in stored and body["secret"] not in stored


def test_events_default_to_all_and_unknown_ones_are_422(public):
    r = public.post("/v1/webhooks", json={"url": HOOK["url"]})
    assert r.get_json()["events"] == ["job.succeeded", "job.failed", "job.canceled"]
    assert_problem(public.post("/v1/webhooks", json={"url": HOOK["url"], "events": ["job.started"]}), 422, "events")
    assert_problem(public.post("/v1/webhooks", json={"url": HOOK["url"], "events": []}), 422, "events")
    assert_problem(public.post("/v1/webhooks", json={"events": ["job.failed"]}), 422, "url")


class Listener:
    """A TCP port on 127.0.0.1 that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://10.0.0.1/hook", "10.0.0.1"),
        ("https://127.0.0.1:{port}/hook", "127.0.0.1"),
        ("https://[::1]:{port}/hook", "::1"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://localhost:{port}/hook", "localhost"),
        ("https://{hostname}:{port}/hook", "{hostname}"),  # this machine's name resolves to a loopback address
        ("https://2130706433:{port}/", "127.0.0.1"),
        ("https://[::ffff:127.0.0.1]:{port}/", "127.0.0.1"),
        ("https://192.168.1.1/", "192.168.1.1"),
        ("http://93.184.216.34/hook", "https"),
    ],
)
def test_internal_addresses_are_refused_without_traffic(public, url, named):
    listener = Listener()
    try:
        hostname = socket.gethostname()
        url = url.format(port=listener.port, hostname=hostname)
        body = assert_problem(public.post("/v1/webhooks", json={**HOOK, "url": url}), 422)
        assert body["errors"][0]["path"] == "url" and named.format(hostname=hostname) in body["errors"][0]["message"]
    finally:
        listener.close()
    assert listener.connections == 0
    assert public.get("/v1/webhooks").get_json()["items"] == []


def test_allow_private_lifts_both_rules(make_app, settings, keys):
    private = Client(make_app(settings, webhook_allow_private=True).test_client(), keys["acme"])
    assert private.post("/v1/webhooks", json={**HOOK, "url": "http://127.0.0.1:9/hook"}).status_code == 201


def test_another_tenant_sees_nothing_and_deletion(public, other):
    hook = public.post("/v1/webhooks", json=HOOK).get_json()
    assert_problem(other.get(f"/v1/webhooks/{hook['id']}"), 404)
    assert_problem(other.get(f"/v1/webhooks/{hook['id']}/deliveries"), 404)
    assert_problem(other.delete(f"/v1/webhooks/{hook['id']}"), 404)
    assert other.get("/v1/webhooks").get_json()["items"] == []
    assert public.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json() == {"items": [], "next_cursor": None}
    assert public.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert_problem(public.get(f"/v1/webhooks/{hook['id']}"), 404)


def test_lists_are_paged(public):
    ids = [public.post("/v1/webhooks", json=HOOK).get_json()["id"] for _ in range(3)]
    first = public.get("/v1/webhooks?limit=2").get_json()
    rest = public.get(f"/v1/webhooks?limit=2&cursor={first['next_cursor']}").get_json()
    assert sorted(h["id"] for h in first["items"] + rest["items"]) == sorted(ids) and rest["next_cursor"] is None


def test_without_secret_keys_registration_is_501(make_app, settings, keys):
    bare = Client(make_app(settings, webhook_secret_keys="").test_client(), keys["acme"])
    assert_problem(bare.post("/v1/webhooks", json=HOOK), 501, "WEBHOOK_SECRET_KEYS")
