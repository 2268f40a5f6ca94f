"""/v1/jobs/{id}/diagram.svg: the worked example as the classic figure, read back from the SVG's own coordinates."""

import re
import xml.etree.ElementTree as ET

import numpy as np

from service.api.diagram import GREEN, RED, circuit_layout, render_svg
from service.graph.engine import evaluate
from service.graph.request_schemas import load_graph
from tests.api.helpers import assert_problem, complete

SVG = "{http://www.w3.org/2000/svg}"
NUMBER = r"-?\d+(?:\.\d+)?"


def labelled_texts(svg: bytes) -> dict[str, list[str]]:
    """Text of the picture by fill colour."""
    root = ET.fromstring(svg)
    by_colour: dict[str, list[str]] = {}
    for text in root.iter(f"{SVG}text"):
        by_colour.setdefault(text.get("fill", "black").lower(), []).append(text.text or "")
    return by_colour


def straight_segments(d: str) -> list[tuple[float, float, float, float]]:
    """The ``L`` segments of a path of M, C and L commands, as (x0, y0, x1, y1)."""
    segments, at = [], (0.0, 0.0)
    for command, args in re.findall(rf"([MCL])((?:\s*{NUMBER})+)", d):
        points = [float(v) for v in re.findall(NUMBER, args)]
        end = (points[-2], points[-1])
        if command == "L":
            segments.append((*at, *end))
        at = end
    return segments


def level_y_at(segments: list[tuple[float, float, float, float]], x: float) -> float | None:
    """The wire's height at ``x`` where a horizontal straight segment passes, else None."""
    for x0, y0, x1, y1 in segments:
        if min(x0, x1) <= x <= max(x0, x1) and y0 == y1:
            return y0
    return None


def job_svg(client, settings, example) -> bytes:
    job = client.post("/v1/jobs", json={"graph": example["graph"], "inputs": example["inputs"]}).get_json()
    complete(settings, job["id"])
    r = client.get(f"/v1/jobs/{job['id']}/diagram.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    return r.data


def test_worked_example_picture(client, example, settings):
    texts = labelled_texts(job_svg(client, settings, example))
    assert sorted(texts[GREEN.lower()]) == sorted(["-2", "5", "-4", "3", "-12"])
    assert sorted(texts[RED.lower()]) == sorted(["-4", "-4", "3", "-4", "1"])
    black = " ".join(texts.get("black", []))
    for name in ("x", "y", "z", "q", "f", "+", "×", "∂L/∂f"):
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", black), name


def test_every_wire_has_its_value_above_and_its_gradient_below(client, example, settings):
    root = ET.fromstring(job_svg(client, settings, example))
    wires = root.findall(f".//{SVG}g[@data-from]")
    paths = {id(g): straight_segments(g.find(f"{SVG}path").get("d")) for g in wires}
    found = {}
    for g in wires:
        key = (g.get("data-from"), g.get("data-to"))  # data-to None: the output's seed arrow
        assert "wire" in g.get("class").split() and key not in found, key
        value, grad = g.find(f"{SVG}text[@class='value']"), g.find(f"{SVG}text[@class='grad']")
        assert value.get("fill").lower() == GREEN.lower() and grad.get("fill").lower() == RED.lower()
        for label, above in ((value, True), (grad, False)):
            x, y, size = float(label.get("x")), float(label.get("y")), float(label.get("font-size"))
            wire_y = level_y_at(paths[id(g)], x)
            assert wire_y is not None, f"{key}: {label.text} is not over a level stretch of its wire"
            # the whole glyph on its side: a baseline above, or a digit's top (~0.7 em) below
            assert (y < wire_y) if above else (y - 0.7 * size > wire_y), (key, label.text, y, wire_y)
            # and nearer its own wire than any other level stretch at that x
            others = [level_y_at(paths[id(h)], x) for h in wires if h is not g]
            gap = abs(y - 0.35 * size - wire_y)
            assert all(o is None or abs(y - 0.35 * size - o) > gap for o in others), (key, label.text)
        found[key] = (value.text, grad.text)
    assert found == {
        ("x", "q"): ("-2", "-4"),
        ("y", "q"): ("5", "-4"),
        ("q", "f"): ("3", "-4"),
        ("z", "f"): ("-4", "3"),
        ("f", None): ("-12", "1"),
    }
    inputs = root.findall(f".//{SVG}g[@class='node input']")
    rows = sorted(inputs, key=lambda g: float(g.find(f"{SVG}text").get("y")))
    assert [g.get("data-id") for g in rows] == ["x", "y", "z"]

    legend = root.find(f".//{SVG}g[@class='legend']")
    text = " ".join("".join(t.itertext()) for t in legend.iter(f"{SVG}text"))
    for words in ("value (forward)", "gradient (backward)", "seed", "∂L/∂output", "sum over its outgoing wires"):
        assert words in text, words
    colours = {t.text: t.get("fill").lower() for t in legend.iter(f"{SVG}tspan")}
    assert colours["value (forward)"] == GREEN.lower() and colours["gradient (backward)"] == RED.lower()


def test_fan_out_wide_gates_and_constants_are_drawn_without_graphviz():
    definition = {
        "name": 'a<b & "c"',
        "inputs": ["a", "b", "c"],
        "constants": {"k": 2},
        "gates": [
            {"id": "s", "op": "add", "inputs": ["a", "b"]},
            {"id": "m", "op": "mul", "inputs": ["a", "c", "k"]},
            {"id": "t", "op": "add", "inputs": ["s", "m", "a"]},
        ],
        "outputs": ["t", "s"],
    }
    plan = load_graph(definition)
    run = evaluate(plan, np.array([[1.0], [np.inf], [3.0]]))
    svg = render_svg(circuit_layout(plan, run.values[:, 0], run.grads[:, 0], np.ones(2)))
    root = ET.fromstring(svg)  # well-formed despite the name's markup characters
    assert root.find(f"{SVG}title").text.startswith('a<b & "c"')
    wires = root.findall(f".//{SVG}g[@data-from]")
    assert sorted((g.get("data-from"), g.get("data-to") or "") for g in wires) == sorted(
        [("a", "s"), ("b", "s"), ("a", "m"), ("c", "m"), ("k", "m"), ("s", "t"), ("m", "t"), ("a", "t")]
        + [("t", ""), ("s", "")]
    )
    assert "Infinity" in labelled_texts(svg)[GREEN.lower()]
    assert root.find(f".//{SVG}g[@class='node constant']/{SVG}rect") is not None


def test_batch_item_is_chosen_by_query(client, example, settings):
    job = client.post(
        "/v1/jobs", json={"graph": example["graph"], "inputs": {"x": [-2, 1], "y": [5, 2], "z": [-4, 3]}}
    ).get_json()
    complete(settings, job["id"])
    texts = labelled_texts(client.get(f"/v1/jobs/{job['id']}/diagram.svg?item=1").data)
    assert "9" in texts[GREEN.lower()]
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
