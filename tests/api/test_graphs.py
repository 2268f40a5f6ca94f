"""/v1/graphs through Flask's test client, on SQLite and PostgreSQL."""

from tests.api.helpers import assert_problem

GRAPH = {
    "name": "g",
    "inputs": ["x", "y"],
    "constants": {"two": 2},
    "gates": [{"id": "q", "op": "mul", "inputs": ["x", "two"]}, {"id": "f", "op": "add", "inputs": ["q", "y"]}],
}


def test_create_graph_answers_201_with_location(client):
    r = client.post("/v1/graphs", json=GRAPH)
    assert r.status_code == 201
    body = r.get_json()
    assert r.headers["Location"] == f"/v1/graphs/{body['id']}"
    assert body["n_inputs"] == 2 and body["n_constants"] == 1 and body["n_gates"] == 2 and body["n_nodes"] == 5
    assert body["outputs"] == ["f"] and body["name"] == "g"


def test_get_graph_returns_the_normalised_definition(client):
    gid = client.post("/v1/graphs", json=GRAPH).get_json()["id"]
    body = client.get(f"/v1/graphs/{gid}").get_json()
    assert body["definition"] == {**GRAPH, "constants": {"two": 2.0}, "outputs": ["f"]}


def test_invalid_definition_lists_every_problem_with_its_path(client):
    bad = {
        "inputs": ["x"],
        "gates": [{"id": "q", "op": "pow", "inputs": ["x", "w"]}, {"id": "r", "op": "add", "inputs": ["x"]}],
    }
    body = assert_problem(client.post("/v1/graphs", json=bad), 422)
    # the schema's problems and the unknown reference together (one answer, not one phase at a time)
    assert [e["path"] for e in body["errors"]] == ["gates[0].op", "gates[0].inputs[1]", "gates[1].inputs"]
    assert "gates[0].op" in body["detail"]


def test_unknown_reference_is_named(client):
    bad = {"inputs": ["x"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "w"]}]}
    body = assert_problem(client.post("/v1/graphs", json=bad), 422)
    assert body["errors"] == [{"path": "gates[0].inputs[1]", "message": "unknown node 'w'"}]


def test_cycle_is_named(client):
    bad = {
        "inputs": ["x"],
        "gates": [{"id": "a", "op": "add", "inputs": ["x", "b"]}, {"id": "b", "op": "add", "inputs": ["a", "x"]}],
    }
    body = assert_problem(client.post("/v1/graphs", json=bad), 422)
    assert "a -> b -> a" in body["errors"][0]["message"]


def test_malformed_json_is_400(client):
    r = client.post("/v1/graphs", data=b'{"inputs": [', headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "not valid JSON")


def test_empty_body_is_400(client):
    assert_problem(client.post("/v1/graphs", data=b"", headers={"Content-Type": "application/json"}), 400, "empty")


def test_not_json_is_415(client):
    assert_problem(
        client.post("/v1/graphs", data=b"inputs=x", headers={"Content-Type": "text/plain"}), 415, "text/plain"
    )


def test_body_over_the_limit_is_413_naming_it(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 100
    r = client.post("/v1/graphs", data=b"[" + b"1," * 100 + b"1]", headers={"Content-Type": "application/json"})
    assert_problem(r, 413, "MAX_BODY_BYTES")


def test_gate_limit_is_named(settings, make_app, keys):
    from tests.conftest import Client

    small = Client(make_app(settings, max_gates=1).test_client(), keys["acme"])
    assert_problem(small.post("/v1/graphs", json=GRAPH), 422, "max_gates=1")


def test_one_e400_constant_is_422_not_400(client):
    text = b'{"inputs": ["x"], "constants": {"c": 1e400}, "gates": [{"id": "q", "op": "add", "inputs": ["x", "c"]}]}'
    body = assert_problem(client.post("/v1/graphs", data=text, headers={"Content-Type": "application/json"}), 422)
    assert body["errors"] == [{"path": "constants.c", "message": "must be a finite number"}]


def test_list_graphs_pages_by_cursor_newest_first(client):
    ids = [client.post("/v1/graphs", json={**GRAPH, "name": f"g{i}"}).get_json()["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        url = "/v1/graphs?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += [g["id"] for g in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_page_limit_over_max_is_422(client):
    assert_problem(client.get("/v1/graphs?limit=100000"), 422, "MAX_PAGE")


def test_bad_cursor_is_422(client):
    assert_problem(client.get("/v1/graphs?cursor=nonsense"), 422, "cursor")


def test_delete_graph(client):
    gid = client.post("/v1/graphs", json=GRAPH).get_json()["id"]
    assert client.delete(f"/v1/graphs/{gid}").status_code == 204
    assert_problem(client.get(f"/v1/graphs/{gid}"), 404)
    assert_problem(client.delete(f"/v1/graphs/{gid}"), 404)


def test_unknown_and_malformed_ids_are_404(client):
    assert_problem(client.get("/v1/graphs/00000000-0000-0000-0000-000000000000"), 404, "no graph")
    assert_problem(client.get("/v1/graphs/not-a-uuid"), 404)


def test_another_tenants_graph_is_404_and_not_listed(client, other):
    gid = client.post("/v1/graphs", json=GRAPH).get_json()["id"]
    assert_problem(other.get(f"/v1/graphs/{gid}"), 404)
    assert_problem(other.delete(f"/v1/graphs/{gid}"), 404)
    assert other.get("/v1/graphs").get_json()["items"] == []
    assert client.get(f"/v1/graphs/{gid}").status_code == 200
