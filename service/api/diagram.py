"""The circuit picture: the classic backpropagation figure, laid out by Graphviz's `dot`.

Inputs and constants on the left, each gate a labelled node (+ or ×), every wire labelled with
the value that flows forward on it (green, above) and the gradient that flows back on it
(red, below). A wire into a gate carries its own share of the gradient, as the engine computes
it (``engine.wire_grads``, the op table's local rule times the gate's gradient); a node's
gradient is the sum over its wires. The output wires end in the loss, L.
"""

from __future__ import annotations

import math
import shutil

import graphviz
import numpy as np

from service.graph import Plan
from service.graph.engine import wire_grads
from service.graph.ops import OPS
from service.graph.plan import INPUT

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
    return f'<<font color="{GREEN}">{_number(value)}</font><br/><font color="{RED}">{_number(grad)}</font>>'


def circuit_dot(plan: Plan, values: np.ndarray, grads: np.ndarray, output_grads: np.ndarray) -> graphviz.Digraph:
    """The figure for one assignment: ``values``, ``grads`` per node, ``output_grads`` per output."""
    dot = graphviz.Digraph(
        "circuit",
        graph_attr={"rankdir": "LR", "nodesep": "0.5", "ranksep": "1.1", "fontname": "Helvetica"},
        node_attr={"fontname": "Helvetica"},
        edge_attr={"fontname": "Helvetica", "fontsize": "11"},
    )
    with dot.subgraph(name="leaves", graph_attr={"rank": "source"}) as leaves:
        for n in range(plan.first_gate):
            leaves.node(f"n{n}", plan.ids[n], shape="plaintext" if plan.kind(n) == INPUT else "box", fontsize="14")
    shares = wire_grads(plan, values, grads).tolist()
    sources, ptr = plan.sources.tolist(), plan.ptr.tolist()
    for g in range(plan.n_gates):
        node = plan.first_gate + g
        symbol = OPS[int(plan.ops[g])].symbol
        dot.node(
            f"n{node}", f"{symbol}\n{plan.ids[node]}", shape="circle", width="0.6", fixedsize="false", fontsize="12"
        )
        for k in range(ptr[g], ptr[g + 1]):
            dot.edge(f"n{sources[k]}", f"n{node}", label=_wire(float(values[sources[k]]), shares[k]))
    dot.node("loss", "L", shape="doublecircle", fontsize="14")
    for out, seed in zip(plan.outputs.tolist(), output_grads.tolist(), strict=True):
        dot.edge(f"n{out}", "loss", label=_wire(float(values[out]), float(seed)))
    return dot


def render_svg(dot: graphviz.Digraph) -> bytes:
    """SVG bytes. :raise GraphvizMissing: no `dot` on this machine."""
    if shutil.which("dot") is None:
        raise GraphvizMissing("diagrams need Graphviz's `dot` program, which is not installed on this server")
    return dot.pipe(format="svg")
