"""/v1/jobs/{id}/diagram.svg: the worked example's picture carries its values and gradients in colour."""

import re
import xml.etree.ElementTree as ET

from service.api.diagram import GREEN, RED
from tests.api.helpers import assert_problem, complete

SVG = "{http://www.w3.org/2000/svg}"


def labelled_texts(svg: bytes) -> dict[str, list[str]]:
    """Text of the picture by fill colour."""
    root = ET.fromstring(svg)
    by_colour: dict[str, list[str]] = {}
    for text in root.iter(f"{SVG}text"):
        by_colour.setdefault(text.get("fill", "black"), []).append(text.text or "")
    return by_colour


def test_worked_example_picture(client, example, settings):
    job = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    complete(settings, job["id"])
    r = client.get(f"/v1/jobs/{job['id']}/diagram.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    texts = labelled_texts(r.data)
    assert sorted(texts[GREEN.lower()] if GREEN.lower() in texts else texts[GREEN]) == sorted(
        ["-2", "5", "-4", "3", "-12"]
    )
    assert sorted(texts.get(RED.lower(), texts.get(RED))) == sorted(["-4", "-4", "3", "-4", "1"])
    black = " ".join(texts.get("black", []) + texts.get("#000000", []))
    for name in ("x", "y", "z", "q", "f", "+", "×", "L"):
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", black), name


def test_batch_item_is_chosen_by_query(client, example, settings):
    job = client.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": {"x": [-2, 1], "y": [5, 2], "z": [-4, 3]}}
    ).get_json()
    complete(settings, job["id"])
    texts = labelled_texts(client.get(f"/v1/jobs/{job['id']}/diagram.svg?item=1").data)
    assert "9" in texts.get(GREEN.lower(), texts.get(GREEN))
    assert_problem(client.get(f"/v1/jobs/{job['id']}/diagram.svg?item=2"), 422, "batch size 2")


def test_graph_over_the_drawing_limit_is_422(settings, make_app, keys, example):
    from tests.conftest import Client

    small = Client(make_app(settings, diagram_max_nodes=4).test_client(), keys["acme"])
    job = small.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    complete(settings, job["id"])
    assert_problem(small.get(f"/v1/jobs/{job['id']}/diagram.svg"), 422, "DIAGRAM_MAX_NODES=4")


def test_no_picture_before_the_job_succeeds(client, example):
    job = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    assert_problem(client.get(f"/v1/jobs/{job['id']}/diagram.svg"), 409)
