"""The circuit picture: the classic backpropagation figure, laid out here and written as SVG.

Inputs and constants on the left in declared order, each gate a circle (+ or ×) in the column of
its longest path from the inputs, rows by the barycentre of what it reads. Every wire ends in a
horizontal stretch of its own just before its target, and carries its two labels there: the value
that flows forward (green, above) and the gradient that flows back (red, below). A wire into a
gate carries its own share of the gradient, as the engine computes it (``engine.wire_grads``); a
node's gradient is the sum over its wires. Each output ends in an arrow carrying its seed, the
gradient ∂L/∂output the backward pass starts from. A legend inside the SVG says all this.

The layout is done in Python rather than by Graphviz so that each label's position is known
exactly (Graphviz places edge labels where it likes, often between two wires), and so that
drawing needs no external program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import numpy as np

from service.graph import Plan
from service.graph.engine import wire_grads
from service.graph.ops import OPS
from service.graph.plan import INPUT

GREEN, RED = "#1a7f37", "#cf222e"
INK, MUTED = "#24292f", "#57606a"
FONT = "Helvetica, Arial, sans-serif"

LABEL_SIZE = 12  # px, the numbers on the wires
NAME_SIZE = 14  # px, node ids
RADIUS = 18  # a gate's circle
PORT_GAP = 46  # between two wires entering one target: a value above and a gradient below each fit
CURVE = 56  # horizontal room for a wire to bend from its source's row to its target's port
LEAD = 8  # between a stub's end and its target's circle
NODE_GAP = 14  # between the extents of two nodes of one column
MARGIN = 20
VIA = 7  # half the room a wire passing through a column takes there


def _number(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return f"{x:.6g}"


def _width(text: str, size: float) -> float:
    # no font metrics on a server: 0.62 em covers digits, signs and most letters of Helvetica
    return 0.62 * size * len(text) + 2


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _f(x: float) -> str:
    return f"{x:.1f}"


@dataclass
class _Wire:
    source: int
    target: int | None  # None: an output's seed arrow
    value: str
    grad: str
    via: list[int] = field(default_factory=list)  # bend points in the columns it crosses (keys >= n_nodes)
    port_y: float = 0.0

    def before_target(self) -> int:
        return self.via[-1] if self.via else self.source


@dataclass
class Circuit:
    """A laid-out figure: what :func:`render_svg` draws."""

    plan: Plan
    x: dict[int, float]  # gates and bend points: centre; leaves: where their name ends and their wires start
    y: dict[int, float]
    wires: list[_Wire]  # gate inputs in plan.sources order, then one seed arrow per output
    stub: float  # length of the labelled horizontal stretch of every wire
    tips_x: float  # where the seed arrows end
    width: float
    height: float


def _extent(ports: int) -> tuple[float, float]:
    """Room a gate needs above and below its centre: its circle and name, or its fan of ports and their labels."""
    fan = (ports - 1) / 2 * PORT_GAP + LABEL_SIZE + 6 if ports else 0.0
    return max(RADIUS, fan), max(RADIUS + NAME_SIZE + 4, fan)


def _place(column: list[int], wanted: dict[int, float], extents: dict[int, tuple[float, float]]) -> dict[int, float]:
    """Rows near their wanted heights, in that order, without two nodes overlapping."""
    if not column:
        return {}
    order = sorted(column, key=lambda n: (wanted[n], n))
    placed: dict[int, float] = {}
    floor = -math.inf
    for n in order:
        y = max(wanted[n], floor + extents[n][0])
        placed[n] = y
        floor = y + extents[n][1] + NODE_GAP
    # pushing only downwards drifts a crowded column low; recentre it on what it wanted
    shift = sum(wanted[n] - placed[n] for n in order) / len(order)
    return {n: y + shift for n, y in placed.items()}


def circuit_layout(plan: Plan, values: np.ndarray, grads: np.ndarray, output_grads: np.ndarray) -> Circuit:
    """The figure for one assignment: ``values``, ``grads`` per node, ``output_grads`` per output."""
    first, ids = plan.first_gate, plan.ids
    sources, ptr = plan.sources.tolist(), plan.ptr.tolist()
    shares = wire_grads(plan, values, grads).tolist()
    vals = values.tolist()

    level = [0] * plan.n_nodes
    for g in plan.order.tolist():
        level[first + g] = 1 + max((level[s] for s in sources[ptr[g] : ptr[g + 1]]), default=0)
    n_columns = 1 + max(level, default=0)
    columns: list[list[int]] = [[] for _ in range(n_columns + 1)]  # the last: the seed arrows' tips
    columns[0] = list(range(first))
    for n in range(first, plan.n_nodes):
        columns[level[n]].append(n)

    wires = [
        _Wire(sources[k], first + g, _number(vals[sources[k]]), _number(shares[k]))
        for g in range(plan.n_gates)
        for k in range(ptr[g], ptr[g + 1])
    ]
    outputs = plan.outputs.tolist()
    seeds = [
        _Wire(out, None, _number(vals[out]), _number(seed))
        for out, seed in zip(outputs, output_grads.tolist(), strict=True)
    ]
    # a wire that skips columns bends through a point of its own in each, placed like a node (as
    # dot's virtual nodes are), so it passes between the nodes there rather than through them
    extents: dict[int, tuple[float, float]] = {}
    via_column: dict[int, int] = {}
    prior: dict[int, int] = {}
    key = plan.n_nodes
    for w in wires + seeds:
        end = n_columns if w.target is None else level[w.target]
        for c in range(level[w.source] + 1, end):
            prior[key] = w.before_target()
            w.via.append(key)
            via_column[key] = c
            columns[c].append(key)
            extents[key] = (VIA, VIA)
            key += 1
    into: dict[int, list[_Wire]] = {}
    for w in wires:
        into.setdefault(w.target, []).append(w)
    for n in range(first, plan.n_nodes):
        extents[n] = _extent(len(into.get(n, [])))
    tips = {key + i: s for i, s in enumerate(seeds)}
    extents.update(dict.fromkeys(tips, (LABEL_SIZE + 6, LABEL_SIZE + 6)))
    columns[n_columns] = list(tips)

    y: dict[int, float] = {}
    for i, n in enumerate(columns[0]):
        y[n] = NAME_SIZE + i * (2 * NAME_SIZE + NODE_GAP)
    for column in columns[1:]:
        wanted = {}
        for n in column:
            if n in prior:
                wanted[n] = y[prior[n]]
            elif n in tips:
                wanted[n] = y[tips[n].before_target()]
            elif n in into:
                wanted[n] = sum(y[w.before_target()] for w in into[n]) / len(into[n])
            else:  # a gate of no inputs: below what is already there
                wanted[n] = max(y.values(), default=0.0) + PORT_GAP
        y.update(_place(column, wanted, extents))

    # ports in the order of what comes before them, so the wires into one gate do not cross
    for target, fan in into.items():
        fan.sort(key=lambda w: y[w.before_target()])
        for i, w in enumerate(fan):
            w.port_y = y[target] + (i - (len(fan) - 1) / 2) * PORT_GAP
    for n, s in tips.items():
        s.port_y = y.pop(n)

    labels = [w.value for w in wires + seeds] + [w.grad for w in wires + seeds]
    stub = max([_width(t, LABEL_SIZE) + 12 for t in labels] + [48.0])
    leaves_x = MARGIN + max(
        (_width(ids[n], NAME_SIZE) + (12 if n >= plan.n_inputs else 0) for n in columns[0]), default=0
    )
    step = CURVE + stub + LEAD + 2 * RADIUS

    def centre(c: int) -> float:
        return leaves_x + 6 + (c - 1) * step + CURVE + stub + LEAD + RADIUS

    x = dict.fromkeys(columns[0], leaves_x + 6)
    x.update({n: centre(level[n]) for n in range(first, plan.n_nodes)})
    x.update({v: centre(c) for v, c in via_column.items()})
    tips_x = (leaves_x + 6 if n_columns == 1 else centre(n_columns - 1) + RADIUS) + CURVE + stub

    tops = [y[n] - extents.get(n, (NAME_SIZE, NAME_SIZE))[0] for n in y] + [s.port_y - LABEL_SIZE - 6 for s in seeds]
    shift = MARGIN - min(tops, default=0.0)
    for n in y:
        y[n] += shift
    for w in wires + seeds:
        w.port_y += shift
    bottoms = [y[n] + extents.get(n, (NAME_SIZE, NAME_SIZE))[1] for n in y] + [s.port_y + LABEL_SIZE + 6 for s in seeds]
    width = tips_x + max((_width(f"∂L/∂{ids[o]}", LABEL_SIZE) + 6 for o in outputs), default=0) + MARGIN
    return Circuit(plan, x, y, wires + seeds, stub, tips_x, width, max(bottoms, default=MARGIN))


# the legend: a sample of each mark, then what it means
_LEGEND = (
    ("value", "value (forward)", ": the number flowing along the wire, above it"),
    ("grad", "gradient (backward)", ": ∂L/∂(the wire's source) carried back by the wire, below it;"),
    (None, "", "a node's gradient is the sum over its outgoing wires"),
    ("seed", "→ seed", ": an output's arrow carries its ∂L/∂output, where the backward pass starts"),
)
_LEGEND_LINE = 18


def _bend(x0: float, y0: float, x1: float, y1: float) -> str:
    """An S from one row to another, level at both ends (so labelled stretches stay horizontal)."""
    half = (x1 - x0) / 2
    return f" C {_f(x0 + half)} {_f(y0)} {_f(x1 - half)} {_f(y1)} {_f(x1)} {_f(y1)}"


def _wire_path(c: Circuit, w: _Wire) -> tuple[str, float, float]:
    """The wire's SVG path and the x range of its labelled horizontal stub."""
    x, y = c.x[w.source] + (RADIUS if w.source >= c.plan.first_gate else 0), c.y[w.source]
    path, drawn = f"M {_f(x)} {_f(y)}", x  # ``drawn``: how far the level line at ``y`` is written
    # a level run through several columns is one straight line: long wires of big graphs stay short to write
    for v in w.via:
        if _f(c.y[v]) != _f(y):
            if drawn < x:
                path += f" L {_f(x)} {_f(y)}"
            path += _bend(x, y, c.x[v] - RADIUS - LEAD - c.stub, c.y[v])
            drawn, y = c.x[v] - RADIUS - LEAD - c.stub, c.y[v]
        x = c.x[v] + RADIUS
    end = c.tips_x if w.target is None else c.x[w.target] - RADIUS - LEAD
    if _f(w.port_y) != _f(y):
        if drawn < x:
            path += f" L {_f(x)} {_f(y)}"
        path += _bend(x, y, end - c.stub, w.port_y)
    path += f" L {_f(end)} {_f(w.port_y)}"
    if w.target is not None:  # on into the circle, aimed at its centre
        tx, ty = c.x[w.target], c.y[w.target]
        d = math.hypot(tx - end, ty - w.port_y)
        path += f" L {_f(tx - (tx - end) / d * RADIUS)} {_f(ty - (ty - w.port_y) / d * RADIUS)}"
    return path, end - c.stub, end


def render_svg(c: Circuit) -> bytes:
    """SVG bytes of a laid-out figure, with hooks for machines: every wire a
    ``<g class="wire" data-from=.. data-to=..>`` holding its ``<path>``, ``<text class="value">`` and
    ``<text class="grad">`` (an output's seed arrow: ``class="wire seed"``, no ``data-to``)."""
    plan, ids = c.plan, c.plan.ids
    legend_top = c.height + 24
    legend_width = MARGIN + 40 + max(_width(a + b, LABEL_SIZE) for _, a, b in _LEGEND)
    width, height = max(c.width, legend_width), legend_top + len(_LEGEND) * _LEGEND_LINE + MARGIN / 2
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="{FONT}" role="img">',
        f"<title>{escape(plan.name or 'circuit')}: values and gradients</title>",
        "<defs>",
        f'<marker id="gg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{MUTED}"/></marker>',
        "</defs>",
    ]
    for w in c.wires:
        path, start, end = _wire_path(c, w)
        mid = (start + end) / 2
        to = "" if w.target is None else f' data-to="{_attr(ids[w.target])}"'
        out.append(f'<g class="wire{"" if w.target is not None else " seed"}" data-from="{_attr(ids[w.source])}"{to}>')
        out.append(f'<path d="{path}" fill="none" stroke="{MUTED}" stroke-width="1.3" marker-end="url(#gg-arrow)"/>')
        out.append(
            f'<text class="value" x="{_f(mid)}" y="{_f(w.port_y - 4)}" fill="{GREEN}" font-size="{LABEL_SIZE}" '
            f'text-anchor="middle">{escape(w.value)}</text>'
        )
        out.append(
            f'<text class="grad" x="{_f(mid)}" y="{_f(w.port_y + LABEL_SIZE + 1)}" fill="{RED}" '
            f'font-size="{LABEL_SIZE}" text-anchor="middle">{escape(w.grad)}</text>'
        )
        if w.target is None:
            out.append(
                f'<text class="seed-name" x="{_f(c.tips_x + 6)}" y="{_f(w.port_y + 4)}" font-size="{LABEL_SIZE}" '
                f'font-style="italic">∂L/∂{escape(ids[w.source])}</text>'
            )
        out.append("</g>")
    for n in range(plan.n_nodes):
        name, x, y = escape(ids[n]), c.x[n], c.y[n]
        kind = plan.kind(n)
        out.append(f'<g class="node {kind}" data-id="{_attr(ids[n])}">')
        if n >= plan.first_gate:
            symbol = escape(OPS[int(plan.ops[n - plan.first_gate])].symbol)
            out.append(
                f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{RADIUS}" fill="#ffffff" stroke="{INK}" stroke-width="1.5"/>'
            )
            out.append(f'<text x="{_f(x)}" y="{_f(y + 6)}" font-size="18" text-anchor="middle">{symbol}</text>')
            out.append(
                f'<text x="{_f(x)}" y="{_f(y + RADIUS + NAME_SIZE + 1)}" font-size="{NAME_SIZE}" '
                f'text-anchor="middle">{name}</text>'
            )
        else:
            if kind != INPUT:  # a constant: boxed, so it does not read as an input
                box = _width(ids[n], NAME_SIZE) + 8
                out.append(
                    f'<rect x="{_f(x - 4 - box)}" y="{_f(y - NAME_SIZE / 2 - 4)}" width="{_f(box)}" '
                    f'height="{NAME_SIZE + 8}" fill="none" stroke="{INK}"/>'
                )
            nudge = 8 if kind != INPUT else 2
            out.append(
                f'<text x="{_f(x - nudge)}" y="{_f(y + NAME_SIZE / 2 - 2)}" font-size="{NAME_SIZE}" '
                f'text-anchor="end">{name}</text>'
            )
        out.append("</g>")
    out.append(f'<g class="legend" font-size="{LABEL_SIZE}">')
    for i, (mark, head, rest) in enumerate(_LEGEND):
        y = legend_top + i * _LEGEND_LINE
        colour = {"value": GREEN, "grad": RED, "seed": RED}.get(mark or "", INK)
        if mark in ("value", "grad"):
            out.append(
                f'<line x1="{MARGIN}" y1="{_f(y - 4)}" x2="{MARGIN + 28}" y2="{_f(y - 4)}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        # the coloured words are tspans, not texts with a fill: only the wires' numbers are coloured texts
        out.append(
            f'<text x="{MARGIN + 36}" y="{_f(y)}"><tspan fill="{colour}" font-weight="bold">{escape(head)}</tspan>'
            f'<tspan fill="{INK}">{escape(rest)}</tspan></text>'
        )
    out.append("</g></svg>")
    return "\n".join(out).encode()
