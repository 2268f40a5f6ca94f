"""An independent oracle: exact forward and reverse-mode gradients with Fractions, and their directions.

Written from the contract (SPEC.md), sharing no code with the engine: dicts and a
plain Kahn ordering over the raw definition, exact rational arithmetic, and the chain
rule applied one edge at a time. For a direction v, the same passes run in dual numbers over
Fractions (``Dual``): each number carries its exact derivative along v, so the values' duals
give the tangents and the gradients' duals give the gradients' tangents (forward-over-reverse).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from math import prod
from typing import Any


@dataclass(frozen=True)
class Dual:
    """a + b·ε with ε² = 0, exactly: b is the derivative of a along the direction."""

    a: Fraction
    b: Fraction = Fraction(0)

    def __add__(self, other: Any) -> Dual:
        other = _lift(other)
        return Dual(self.a + other.a, self.b + other.b)

    def __mul__(self, other: Any) -> Dual:
        other = _lift(other)
        return Dual(self.a * other.a, self.a * other.b + self.b * other.a)

    __radd__ = __add__
    __rmul__ = __mul__


def _lift(x: Any) -> Dual:
    return x if isinstance(x, Dual) else Dual(Fraction(x))


def exact(definition: dict[str, Any], inputs: dict[str, Any], output_grads: dict[str, Any] | None = None):
    """Return (values, grads) as dicts of node id -> Fraction."""
    return _passes(definition, {k: Fraction(v) for k, v in inputs.items()}, Fraction, output_grads)


def exact_directional(
    definition: dict[str, Any],
    inputs: dict[str, Any],
    tangents: dict[str, Any],
    output_grads: dict[str, Any] | None = None,
):
    """Return (values, grads, tangents, grad_tangents) as dicts of node id -> Fraction.

    ``tangents`` is the direction over the inputs; inputs it does not name have 0.
    """
    lifted = {k: Dual(Fraction(v), Fraction(tangents.get(k, 0))) for k, v in inputs.items()}
    values, grads = _passes(definition, lifted, _lift, output_grads)
    return (
        {k: d.a for k, d in values.items()},
        {k: d.a for k, d in grads.items()},
        {k: d.b for k, d in values.items()},
        {k: d.b for k, d in grads.items()},
    )


def _passes(definition: dict[str, Any], inputs: dict[str, Any], lift: Callable[[Any], Any], output_grads):
    """The forward and reverse passes over numbers made by ``lift`` (Fractions or Duals)."""
    gates = {g["id"]: g for g in definition["gates"]}
    zero, one = lift(0), lift(1)
    values: dict[str, Any] = dict(inputs)
    values.update({k: lift(Fraction(v)) for k, v in definition.get("constants", {}).items()})
    order = _kahn(gates)
    for gid in order:
        g = gates[gid]
        xs = [values[a] for a in g["inputs"]]
        values[gid] = sum(xs, zero) if g["op"] == "add" else prod(xs, start=one)
    outputs = definition.get("outputs") or _sinks(gates)
    grads: dict[str, Any] = defaultdict(lambda: zero)
    for o in outputs:
        grads[o] += lift(Fraction((output_grads or {}).get(o, 1)))
    for gid in reversed(order):
        g = gates[gid]
        up = grads[gid]
        for k, a in enumerate(g["inputs"]):
            if g["op"] == "add":
                grads[a] += up
            else:
                others = g["inputs"][:k] + g["inputs"][k + 1 :]
                grads[a] += up * prod((values[o] for o in others), start=one)
    return values, {k: grads[k] for k in values}


def _kahn(gates: dict[str, dict]) -> list[str]:
    waiting = {gid: sum(1 for a in g["inputs"] if a in gates) for gid, g in gates.items()}
    readers = defaultdict(list)
    for gid, g in gates.items():
        for a in g["inputs"]:
            if a in gates:
                readers[a].append(gid)
    ready = deque(gid for gid, n in waiting.items() if n == 0)
    order = []
    while ready:
        gid = ready.popleft()
        order.append(gid)
        for r in readers[gid]:
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    assert len(order) == len(gates), "oracle given a cyclic graph"
    return order


def _sinks(gates: dict[str, dict]) -> list[str]:
    read = {a for g in gates.values() for a in g["inputs"]}
    return [gid for gid in gates if gid not in read]
