"""Compile a structurally valid definition into a Plan: resolve ids, order gates, find cycles.

Everything here is linear in the size of the graph: one compiled pass resolving every id and
reference at once (``resolve.py``), one vectorised test for "already in topological order", and
otherwise Kahn's algorithm in a compiled loop. Nothing recurses, and no ``str`` or dict entry is
made per node: the plan keeps the ids as joined bytes (``node_ids.py``). Lists of ids are built
only to word a problem.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from .errors import InvalidInput, Problem
from .kernels import topological_order
from .node_ids import JoinedIds, join_ids
from .plan import Plan
from .resolve import UNKNOWN, resolve
from .structure import GateColumns, joined_refs


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
    first_gate = len(inputs) + len(constants)
    n_ids, n_edges = first_gate + gates.n_gates, int(gates.arity.sum())
    wanted = joined_refs([outputs], len(outputs)) if outputs else b""
    # ids, then references, then outputs, as one buffer: one pass resolves them all
    text = b"".join((join_ids([*inputs, *constants]), gates.ids, gates.refs, wanted))
    numbers, starts = resolve(text, n_ids)
    if numbers.size != n_ids + n_edges + len(outputs or ()):  # only unvalidated ids could do this
        raise ValueError("an id or a reference was not joined as one item: not validated?")
    # the plan keeps the ids' part alone (copies): the buffer of every item is three times as large
    node_ids = JoinedIds(text[: starts[n_ids]], starts[: n_ids + 1].copy())
    del text, starts
    firsts = numbers[:n_ids]
    problems = []
    if not bool((firsts == np.arange(n_ids, dtype=firsts.dtype)).all()):
        problems = _duplicate_problems(inputs, constants, node_ids.between(first_gate, n_ids))
    sources = numbers[n_ids : n_ids + n_edges].copy()  # the plan's own array, not a view of every item's
    if bool((sources == UNKNOWN).any()):
        problems += _unknown_problems(sources, gates)
        sources = np.zeros(0, dtype=np.int32)
    out, bad_outputs = _outputs(outputs, numbers[n_ids + n_edges :], sources, first_gate, n_ids)
    problems += bad_outputs
    if problems:
        raise InvalidInput(problems)
    ptr = np.zeros(gates.n_gates + 1, dtype=np.int64)
    np.cumsum(gates.arity, out=ptr[1:])
    order = _order(ptr, sources, gates.arity, first_gate, node_ids)
    return Plan(
        node_ids=node_ids,
        n_inputs=len(inputs),
        constants=np.fromiter(constants.values(), dtype=np.float64, count=len(constants)),
        ops=gates.ops,
        ptr=ptr,
        sources=sources,
        order=order,
        outputs=out,
        name=name,
        max_arity=int(gates.arity.max()),
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


def _unknown_problems(sources: np.ndarray, gates: GateColumns) -> list[Problem]:
    """Each unknown reference by its path, in definition order, quoted as given."""
    edges = np.flatnonzero(sources == UNKNOWN)
    starts = np.zeros(gates.n_gates, dtype=np.int64)
    np.cumsum(gates.arity[:-1], out=starts[1:])
    gate_of = np.searchsorted(starts, edges, side="right") - 1
    return [
        Problem(f"gates[{g}].inputs[{k}]", f"unknown node {gates.inputs[g][k]!r}")
        for g, k in zip(gate_of.tolist(), (edges - starts[gate_of]).tolist(), strict=True)
    ]


def _order(ptr: np.ndarray, sources: np.ndarray, arity: np.ndarray, first_gate: int, node_ids: JoinedIds) -> np.ndarray:
    """Gates in topological order; the identity when every gate reads only earlier nodes."""
    n_gates = arity.size
    reader = np.repeat(np.arange(first_gate, first_gate + n_gates, dtype=np.int64), arity)
    if bool((sources < reader).all()):
        return np.arange(n_gates, dtype=np.int32)
    order, count = topological_order(ptr, sources, first_gate)
    if count < n_gates:
        raise InvalidInput([_cycle_problem(ptr, sources, first_gate, order[:count], node_ids)])
    return order


def _cycle_problem(
    ptr: np.ndarray, sources: np.ndarray, first_gate: int, ordered: np.ndarray, node_ids: JoinedIds
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
    names = " -> ".join(node_ids.take([first_gate + i for i in loop + loop[:1]]))
    return Problem(f"gates[{loop[0]}]", f"the graph has a cycle: {names}")


def _outputs(
    outputs: list[str] | None, numbers: np.ndarray, sources: np.ndarray, first_gate: int, n_nodes: int
) -> tuple[np.ndarray, list[Problem]]:
    """Output node numbers: as listed (resolved to ``numbers``), or every gate that no gate reads; or their problems."""
    if outputs is None:
        read = np.zeros(n_nodes, dtype=bool)
        read[sources] = True
        return (np.flatnonzero(~read[first_gate:]) + first_gate).astype(np.int32), []
    problems = []
    seen: set[int] = set()
    for i, (node_id, number) in enumerate(zip(outputs, numbers.tolist(), strict=True)):
        if number == UNKNOWN:
            problems.append(Problem(f"outputs[{i}]", f"unknown node {node_id!r}"))
        elif number in seen:
            problems.append(Problem(f"outputs[{i}]", f"{node_id!r} is listed twice"))
        seen.add(number)
    if not outputs:
        problems.append(Problem("outputs", "must name at least one node, or be left out"))
    if problems:
        return np.zeros(0, dtype=np.int32), problems
    return numbers.astype(np.int32), []
