"""The circuit picture: the classic backpropagation figure, laid out by Graphviz's `dot`.

Inputs and constants on the left, each gate a labelled node (+ or ×), every wire labelled with
the value that flows forward on it (green, above) and the gradient that flows back on it
(red, below). A wire into a gate carries its own share of the gradient: the gate's gradient for
``add``, times the product of the gate's other inputs for ``mul``; a node's gradient is the sum
over its wires. The output wires end in the loss, L.
"""
from __future__ import annotations

import math
import shutil

import graphviz
import numpy as np

from service.graph import Plan

GREEN, RED = "#1a7f37", "#cf222e"


class GraphvizMissing(RuntimeError):
    """The `dot` program is not installed."""


def _number(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return f"{x:.6g}"


def _wire(value: float, grad: float) -> str:
    return (f'<<font color="{GREEN}">{_number(value)}</font><br/>'
            f'<font color="{RED}">{_number(grad)}</font>>')


def edge_grads(plan: Plan, values: np.ndarray, grads: np.ndarray, g: int) -> list[float]:
    """The gradient flowing back along each input wire of gate g."""
    node = plan.first_gate + g
    sources = plan.gate_inputs(node)
    if plan.op(node) == "add":
        return [float(grads[node])] * len(sources)
    shares = []
    for k in range(len(sources)):
        others = [values[s] for j, s in enumerate(sources) if j != k]
        shares.append(float(grads[node] * math.prod(others)))
    return shares


def circuit_dot(plan: Plan, values: np.ndarray, grads: np.ndarray, output_grads: np.ndarray) -> graphviz.Digraph:
    """The figure for one assignment: ``values``, ``grads`` per node, ``output_grads`` per output."""
    dot = graphviz.Digraph("circuit", graph_attr={"rankdir": "LR", "nodesep": "0.5", "ranksep": "1.1", "fontname": "Helvetica"},
                           node_attr={"fontname": "Helvetica"}, edge_attr={"fontname": "Helvetica", "fontsize": "11"})
    with dot.subgraph(name="leaves", graph_attr={"rank": "source"}) as leaves:
        for n in range(plan.first_gate):
            leaves.node(f"n{n}", plan.ids[n], shape="plaintext" if plan.kind(n) == "input" else "box", fontsize="14")
    for g in range(plan.n_gates):
        node = plan.first_gate + g
        symbol = "+" if plan.op(node) == "add" else "×"
        dot.node(f"n{node}", f"{symbol}\n{plan.ids[node]}", shape="circle", width="0.6", fixedsize="false", fontsize="12")
        for source, share in zip(plan.gate_inputs(node), edge_grads(plan, values, grads, g)):
            dot.edge(f"n{source}", f"n{node}", label=_wire(float(values[source]), share))
    dot.node("loss", "L", shape="doublecircle", fontsize="14")
    for out, seed in zip(plan.outputs.tolist(), output_grads.tolist()):
        dot.edge(f"n{out}", "loss", label=_wire(float(values[out]), float(seed)))
    return dot


def render_svg(dot: graphviz.Digraph) -> bytes:
    """SVG bytes. :raise GraphvizMissing: no `dot` on this machine."""
    if shutil.which("dot") is None:
        raise GraphvizMissing("diagrams need Graphviz's `dot` program, which is not installed on this server")
    return dot.pipe(format="svg")
