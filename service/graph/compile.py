"""Compile a structurally valid definition into a Plan: resolve ids, order gates, find cycles.

Everything here is linear in the size of the graph: one dict of ids, one vectorised
lookup of every gate input, one vectorised test for "already in topological order",
and otherwise Kahn's algorithm in a compiled loop. Nothing recurses.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from .errors import InvalidInput, Problem
from .kernels import topological_order
from .ops import CODE_OF
from .plan import Plan
from .structure import GateColumns


def compile_graph(
    inputs: list[str],
    constants: dict[str, float],
    gates: GateColumns,
    outputs: list[str] | None = None,
    name: str | None = None,
) -> Plan:
    """Resolve a structurally checked definition into a Plan.

    :raise InvalidInput: duplicate ids, unknown references, a cycle, bad outputs.
    """
    ids = list(chain(inputs, constants, gates.ids))
    index = dict(zip(ids, range(len(ids)), strict=True))
    problems = [] if len(index) == len(ids) else _duplicate_problems(inputs, constants, gates.ids)
    sources, unresolved = _resolve_sources(index, gates)
    out, bad_outputs = _outputs(index, outputs, sources, len(inputs) + len(constants), len(ids))
    problems += unresolved + bad_outputs
    if problems:
        raise InvalidInput(problems)
    first_gate = len(inputs) + len(constants)
    arity = np.fromiter(map(len, gates.inputs), dtype=np.int64, count=len(gates.inputs))
    ptr = np.zeros(arity.size + 1, dtype=np.int64)
    np.cumsum(arity, out=ptr[1:])
    order = _order(ptr, sources, arity, first_gate, gates.ids)
    ops = np.fromiter(map(CODE_OF.__getitem__, gates.ops), dtype=np.uint8, count=len(gates.ops))
    return Plan(
        ids=ids,
        n_inputs=len(inputs),
        constants=np.fromiter(constants.values(), dtype=np.float64, count=len(constants)),
        ops=ops,
        ptr=ptr,
        sources=sources,
        order=order,
        outputs=out,
        name=name,
        max_arity=int(arity.max()),
    )


def _duplicate_problems(inputs: list[str], constants: dict[str, float], gate_ids: list[str]) -> list[Problem]:
    first_seen: dict[str, str] = {}
    problems = []
    places = chain(
        ((f"inputs[{i}]", v) for i, v in enumerate(inputs)),
        ((f"constants.{k}", k) for k in constants),
        ((f"gates[{i}].id", v) for i, v in enumerate(gate_ids)),
    )
    for path, node_id in places:
        if node_id in first_seen:
            problems.append(Problem(path, f"duplicate id {node_id!r} (already used at {first_seen[node_id]})"))
        else:
            first_seen[node_id] = path
    return problems


def _resolve_sources(index: dict[str, int], gates: GateColumns) -> tuple[np.ndarray, list[Problem]]:
    """Node numbers of every gate input, or the unknown references with their paths."""
    flat = chain.from_iterable(gates.inputs)
    count = sum(map(len, gates.inputs))
    try:
        return np.fromiter(map(index.__getitem__, flat), dtype=np.int32, count=count), []
    except KeyError:
        pass
    problems = [
        Problem(f"gates[{i}].inputs[{k}]", f"unknown node {ref!r}")
        for i, refs in enumerate(gates.inputs)
        for k, ref in enumerate(refs)
        if ref not in index
    ]
    return np.zeros(0, dtype=np.int32), problems


def _order(ptr: np.ndarray, sources: np.ndarray, arity: np.ndarray, first_gate: int, gate_ids: list[str]) -> np.ndarray:
    """Gates in topological order; the identity when every gate reads only earlier nodes."""
    n_gates = arity.size
    reader = np.repeat(np.arange(first_gate, first_gate + n_gates, dtype=np.int64), arity)
    if bool((sources < reader).all()):
        return np.arange(n_gates, dtype=np.int32)
    order, count = topological_order(ptr, sources, first_gate)
    if count < n_gates:
        raise InvalidInput([_cycle_problem(ptr, sources, first_gate, order[:count], gate_ids)])
    return order


def _cycle_problem(
    ptr: np.ndarray, sources: np.ndarray, first_gate: int, ordered: np.ndarray, gate_ids: list[str]
) -> Problem:
    """Name one cycle among the gates Kahn's algorithm could not order.

    Every unordered gate reads at least one unordered gate, so walking "reads" edges from
    any of them must come back to a gate already seen: that loop is a cycle.
    """
    stuck = np.ones(ptr.size - 1, dtype=bool)
    stuck[ordered] = False
    g = int(np.flatnonzero(stuck)[0])
    seen: dict[int, int] = {}
    path: list[int] = []
    while g not in seen:
        seen[g] = len(path)
        path.append(g)
        srcs = sources[ptr[g] : ptr[g + 1]] - first_gate
        g = int(next(s for s in srcs.tolist() if s >= 0 and stuck[s]))
    loop = path[seen[g] :]
    loop.reverse()  # we walked against the data flow; report it along the flow
    start = loop.index(min(loop))
    loop = loop[start:] + loop[:start]
    names = " -> ".join(gate_ids[i] for i in loop + loop[:1])
    return Problem(f"gates[{loop[0]}]", f"the graph has a cycle: {names}")


def _outputs(
    index: dict[str, int], outputs: list[str] | None, sources: np.ndarray, first_gate: int, n_nodes: int
) -> tuple[np.ndarray, list[Problem]]:
    """Output node numbers: as listed, or every gate that no gate reads; or their problems."""
    if outputs is None:
        read = np.zeros(n_nodes, dtype=bool)
        read[sources] = True
        return (np.flatnonzero(~read[first_gate:]) + first_gate).astype(np.int32), []
    problems = []
    seen: set[str] = set()
    for i, node_id in enumerate(outputs):
        if node_id not in index:
            problems.append(Problem(f"outputs[{i}]", f"unknown node {node_id!r}"))
        elif node_id in seen:
            problems.append(Problem(f"outputs[{i}]", f"{node_id!r} is listed twice"))
        seen.add(node_id)
    if not outputs:
        problems.append(Problem("outputs", "must name at least one node, or be left out"))
    if problems:
        return np.zeros(0, dtype=np.int32), problems
    return np.fromiter(map(index.__getitem__, outputs), dtype=np.int32, count=len(outputs)), []
