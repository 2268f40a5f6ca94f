"""An independent oracle: exact forward and reverse-mode gradients with Fractions.

Written from the contract (SPEC.md), sharing no code with the engine: dicts and a
plain Kahn ordering over the raw definition, exact rational arithmetic, and the chain
rule applied one edge at a time.
"""

from __future__ import annotations

from collections import defaultdict, deque
from fractions import Fraction
from math import prod
from typing import Any


def exact(definition: dict[str, Any], inputs: dict[str, Any], output_grads: dict[str, Any] | None = None):
    """Return (values, grads) as dicts of node id -> Fraction."""
    gates = {g["id"]: g for g in definition["gates"]}
    values: dict[str, Fraction] = {k: Fraction(v) for k, v in inputs.items()}
    values.update({k: Fraction(v) for k, v in definition.get("constants", {}).items()})
    order = _kahn(gates)
    for gid in order:
        g = gates[gid]
        xs = [values[a] for a in g["inputs"]]
        values[gid] = sum(xs, Fraction(0)) if g["op"] == "add" else prod(xs, start=Fraction(1))
    outputs = definition.get("outputs") or _sinks(gates)
    grads: dict[str, Fraction] = defaultdict(Fraction)
    for o in outputs:
        grads[o] += Fraction((output_grads or {}).get(o, 1))
    for gid in reversed(order):
        g = gates[gid]
        up = grads[gid]
        for k, a in enumerate(g["inputs"]):
            if g["op"] == "add":
                grads[a] += up
            else:
                others = g["inputs"][:k] + g["inputs"][k + 1 :]
                grads[a] += up * prod((values[o] for o in others), start=Fraction(1))
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
