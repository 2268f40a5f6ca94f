"""The web page at `/`: paste a graph, give inputs, submit, watch the job, see the picture and the nodes.

Plain server-rendered HTML and a little JavaScript that calls the same JSON API as any client,
with the key the person types in (kept in the tab's sessionStorage only). No build step.
"""

from __future__ import annotations

import json

from flask import Blueprint, render_template

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


@blp.route("/")
def index() -> str:
    example = {
        "name": "cs231n-circuit",
        "inputs": ["x", "y", "z"],
        "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}],
    }
    # serialised here, not by the template's tojson, which sorts keys: the graph reads as people write it
    return render_template(
        "index.html",
        example=json.dumps(example, indent=2),
        example_inputs=json.dumps({"x": -2, "y": 5, "z": -4}),
    )
