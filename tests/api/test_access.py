"""Keys: every /v1 route needs one; health, metrics and the OpenAPI document do not."""

import pytest

from service.storage.database import session_factory
from service.storage.keys import revoke_key
from tests.api.helpers import assert_problem

ROUTES = [
    ("get", "/v1/graphs"),
    ("post", "/v1/graphs"),
    ("get", "/v1/graphs/00000000-0000-0000-0000-000000000000"),
    ("delete", "/v1/graphs/00000000-0000-0000-0000-000000000000"),
    ("post", "/v1/graphs/00000000-0000-0000-0000-000000000000/jobs"),
    ("get", "/v1/jobs"),
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/00000000-0000-0000-0000-000000000000"),
    ("delete", "/v1/jobs/00000000-0000-0000-0000-000000000000"),
    ("post", "/v1/jobs/00000000-0000-0000-0000-000000000000/cancel"),
    ("get", "/v1/jobs/00000000-0000-0000-0000-000000000000/nodes"),
    ("get", "/v1/jobs/00000000-0000-0000-0000-000000000000/nodes/x"),
]


@pytest.mark.parametrize("method,url", ROUTES)
@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic abc", "Bearer gg_nope", "Bearer gg_aaaaaaaaaaaa_" + "a" * 43]
)
def test_every_v1_route_needs_a_valid_key(anonymous, method, url, header):
    headers = {"Authorization": header} if header else {}
    r = getattr(anonymous, method)(url, headers=headers, json={})
    assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_401(client, keys, settings):
    assert client.get("/v1/graphs").status_code == 200
    with session_factory(settings.database_url)() as session:
        assert revoke_key(session, keys["acme"].split("_")[1])
    assert_problem(client.get("/v1/graphs"), 401, "revoked")


def test_keys_are_stored_hashed(keys, settings):
    from sqlalchemy import text

    with session_factory(settings.database_url)() as session:
        stored = " ".join(str(v) for row in session.execute(text("SELECT * FROM api_keys")) for v in row)
    assert keys["acme"] not in stored and keys["acme"].split("_", 2)[2] not in stored


@pytest.mark.parametrize("url", ["/healthz", "/openapi.json"])
def test_open_routes_need_no_key(anonymous, url):
    assert anonymous.get(url).status_code == 200


def test_readyz_reports_database_and_broker(anonymous):
    body = anonymous.get("/readyz").get_json()
    assert body == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_is_503_when_the_broker_is_down(settings, make_app):
    app = make_app(settings, broker_url="redis://127.0.0.1:1/0")
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.get_json()["checks"]["broker"].startswith("unreachable")


def test_unknown_route_and_wrong_method_are_problems(anonymous, client):
    assert_problem(anonymous.get("/nowhere"), 404)
    r = client.raw.put("/v1/graphs", headers={"Authorization": f"Bearer {client.key}"})
    assert_problem(r, 405)
    assert "GET" in r.headers["Allow"]


def test_unexpected_errors_are_500_problems_without_a_trace(app, client, monkeypatch):
    from service.api import graph_routes

    def boom(*_a, **_k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(graph_routes, "graph_page", boom)
    r = client.get("/v1/graphs")
    body = assert_problem(r, 500)
    assert "secret internals" not in r.get_data(as_text=True) and "Traceback" not in body["detail"]


def test_stale_schema_refuses_to_start(tmp_path):
    from service.api.app_factory import create_app
    from service.runtime.config import Settings
    from service.storage.migrate import SchemaOutOfDate

    with pytest.raises(SchemaOutOfDate, match="gategraph db upgrade"):
        create_app(Settings(home=str(tmp_path), database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}"))


def test_database_down_is_503_with_retry_after(settings, make_app, keys):
    app = make_app(settings, check_migrations=False, database_url="postgresql://postgres@127.0.0.1:1/none")
    r = app.test_client().get("/v1/graphs", headers={"Authorization": f"Bearer {keys['acme']}"})
    body = assert_problem(r, 503, "database")
    assert r.headers["Retry-After"] and "127.0.0.1" not in body["detail"]


def test_an_unknown_route_is_a_problem_that_names_it(client):
    body = assert_problem(client.get("/v1/grahps"), 404, "no such route: GET /v1/grahps")
    assert "/docs" in body["detail"] and "spelling" not in body["detail"]


@pytest.mark.parametrize("path", ["/v1/jobs/123", "/v1/graphs/not-a-uuid", "/v1/jobs/abc/nodes", "/v1/jobs/x/cancel"])
def test_a_malformed_id_is_a_404_that_says_ids_are_uuids(client, path):
    method = client.post if path.endswith("cancel") else client.get
    body = assert_problem(method(path), 404, "is not a valid id: graph and job ids are UUIDs")
    assert repr(path.split("/")[3]) in body["detail"]


def test_one_more_problem_is_singular(client):
    definition = {"inputs": ["x"], "gates": [{"id": "g", "op": "pow", "inputs": ["x", "w"]}]}
    detail = client.post("/v1/graphs", json=definition).get_json()["detail"]
    assert detail.endswith("(and 1 more problem)"), detail  # the op and the unknown node, in one answer


def test_metrics_name_their_charset_once(anonymous):
    response = anonymous.get("/metrics")
    assert response.headers["Content-Type"].count("charset") == 1, response.headers["Content-Type"]
