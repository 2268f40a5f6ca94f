"""The web page at `/`: paste a graph, give inputs, submit, watch the job, see the picture and the nodes.

Plain server-rendered HTML and a little JavaScript that calls the same JSON API as any client,
with the key the person types in (kept in the tab's sessionStorage only). No build step.
"""

from __future__ import annotations

from flask import Blueprint, render_template

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


@blp.route("/")
def index() -> str:
    example = {
        "name": "cs231n-circuit",
        "inputs": ["x", "y", "z"],
        "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}],
    }
    return render_template("index.html", example=example, example_inputs={"x": -2, "y": 5, "z": -4})
