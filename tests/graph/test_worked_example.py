"""The worked example of SPEC.md, from shared/examples/cs231n.json."""

import json
from pathlib import Path

from service.graph import load_graph
from tests.graph.helpers import run

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "examples" / "cs231n.json"


def _example() -> dict:
    local = Path(__file__).resolve().parents[1] / "data" / "cs231n.json"
    return json.loads((EXAMPLE if EXAMPLE.exists() else local).read_text())


def test_values_and_grads_match_the_worked_example():
    ex = _example()
    values, grads = run(ex["graph"], ex["inputs"])
    for nid, want in ex["expected"]["nodes"].items():
        assert values[nid] == want["value"], nid
        assert grads[nid] == want["grad"], nid
    assert values["f"] == ex["expected"]["outputs"]["f"]


def test_kinds_of_the_worked_example():
    ex = _example()
    plan = load_graph(ex["graph"])
    kinds = {nid: plan.kind(i) for i, nid in enumerate(plan.ids)}
    assert kinds == {nid: n["kind"] for nid, n in ex["expected"]["nodes"].items()}
    assert plan.op(plan.index["q"]) == "add" and plan.op(plan.index["f"]) == "mul"
