"""Size limits of graphs and jobs; the service fills them from its configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_gates: int = 1_048_576
    max_leaves: int = 1_048_576  # inputs + constants
    max_gate_inputs: int = 1_048_576  # inputs of one gate
    max_batch: int = 100_000
    max_cells: int = 20_000_000  # nodes x batch size of one job


DEFAULT_LIMITS = Limits()
