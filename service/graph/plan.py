"""The execution plan: a validated graph as flat integer arrays, ready for the kernels.

Nodes are numbered in definition order: inputs, then constants, then gates as listed.
Gate g is node ``first_gate + g`` and reads nodes ``sources[ptr[g]:ptr[g+1]]``; ``order``
lists gate numbers in a topological order (the identity when the gates were listed so).

The ids are joined bytes (``node_ids.py``, 16 MiB at 10^6 gates against 68 MiB as a list of
``str``). ``id_of``, ``input_ids`` and ``output_ids`` read only what they return; ``ids``, the
whole list, is built on first use and then kept with the plan, so code that holds plans for long
(the plan caches of the API and the worker) should not ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .layout import Layout, layout_of
from .node_ids import JoinedIds
from .ops import NAMES

INPUT, CONSTANT, GATE = "input", "constant", "gate"
KINDS = (INPUT, CONSTANT, GATE)


@dataclass(frozen=True, eq=False)
class Plan:
    node_ids: JoinedIds
    n_inputs: int
    constants: np.ndarray  # float64, one per constant node
    ops: np.ndarray  # uint8, the op code of each gate (ops.OPS)
    ptr: np.ndarray  # int64, n_gates + 1
    sources: np.ndarray  # int32, node numbers read by the gates (an edge each)
    order: np.ndarray  # int32, gates in topological order
    outputs: np.ndarray  # int32, output node numbers
    name: str | None = None
    max_arity: int = field(default=2)

    @property
    def n_constants(self) -> int:
        return int(self.constants.size)

    @property
    def first_gate(self) -> int:
        return self.n_inputs + self.n_constants

    @property
    def n_gates(self) -> int:
        return int(self.ops.size)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @cached_property
    def ids(self) -> list[str]:
        """Every node id, in node order: built on first use, then kept (see the module docstring)."""
        return self.node_ids.tolist()

    def id_of(self, node: int) -> str:
        return self.node_ids[node]

    @property
    def input_ids(self) -> list[str]:
        return self.node_ids.between(0, self.n_inputs)

    @property
    def output_ids(self) -> list[str]:
        return self.node_ids.take(self.outputs)

    @cached_property
    def index(self) -> dict[str, int]:
        """Node id -> node number (built on first use: a 10^6-node dict is not free)."""
        return dict(zip(self.node_ids.tolist(), range(self.n_nodes), strict=True))

    @cached_property
    def layout(self) -> Layout:
        """The arrays as the kernels run them (``layout.py``): built on first use, then kept."""
        return layout_of(self)

    def kind(self, node: int) -> str:
        """``input``, ``constant`` or ``gate``."""
        if node < self.n_inputs:
            return INPUT
        return CONSTANT if node < self.first_gate else GATE

    def op(self, node: int) -> str | None:
        """The op name of a gate node, None for inputs and constants."""
        if node < self.first_gate:
            return None
        return NAMES[int(self.ops[node - self.first_gate])]

    @property
    def nbytes(self) -> int:
        """Bytes held by the plan's arrays (not the ids: ``node_ids.nbytes``)."""
        arrays = (self.constants, self.ops, self.ptr, self.sources, self.order, self.outputs)
        return sum(a.nbytes for a in arrays)


def plan_to_definition(plan: Plan) -> dict:
    """The definition a plan was compiled from, normalised: constants as floats, outputs explicit."""
    ids, first = plan.node_ids.tolist(), plan.first_gate  # a list of its own: a cached plan keeps none
    sources = plan.sources.tolist()
    ptr = plan.ptr.tolist()
    ops = plan.ops.tolist()
    gates = [
        {"id": ids[first + g], "op": NAMES[ops[g]], "inputs": [ids[s] for s in sources[ptr[g] : ptr[g + 1]]]}
        for g in range(plan.n_gates)
    ]
    definition: dict = {"inputs": ids[: plan.n_inputs]}
    if plan.name is not None:
        definition = {"name": plan.name, **definition}
    definition["constants"] = dict(zip(ids[plan.n_inputs : first], plan.constants.tolist(), strict=True))
    definition["gates"] = gates
    definition["outputs"] = plan.output_ids
    return definition
