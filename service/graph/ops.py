"""The op table: every gate's name, code, symbol, and its rules, stated once, side by side.

As in micrograd's ``engine.py``, each op says how its output is computed and how a gradient
flows back through it, next to each other. Here a gate of n inputs folds them with the op's
``value`` rule, starting from the first input (``x1 op x2 op ... op xn``); its local gradient
with respect to input k is ``partial(before_k, after_k)``, where ``before_k`` and ``after_k`` are
the folds of the inputs before and after k (the op's ``identity`` when there are none). The
gradient that flows into input k is ``upstream * partial(before_k, after_k)``, added, never
assigned, which is what makes fan-out and repeated inputs (``mul(x, x)``) come out right.

The rules are compiled functions, so the kernels (``kernels.py``) inline them in their loops;
everything else (compile, serialization, schemas, the picture, the API) reads names, codes and
symbols from ``OPS``. Adding an op means: its two rules and its ``Op`` row here, and its branch in
the kernels' ``_value`` and ``_partial`` dispatchers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from numba import njit


@njit(cache=True, inline="always")
def add_value(acc: float, x: float) -> float:
    """x1 + x2 + ... + xn"""
    return acc + x


@njit(cache=True, inline="always")
def add_partial(before: float, after: float) -> float:
    """d(x1 + ... + xn)/dx_k = 1"""
    return 1.0


@njit(cache=True, inline="always")
def mul_value(acc: float, x: float) -> float:
    """x1 * x2 * ... * xn"""
    return acc * x


@njit(cache=True, inline="always")
def mul_partial(before: float, after: float) -> float:
    """d(x1 * ... * xn)/dx_k = the product of the other inputs = (product before k) * (product after k).

    Never value / x_k, which is 0/0 when x_k = 0.
    """
    return before * after


@dataclass(frozen=True)
class Op:
    name: str  # in graph definitions and answers
    code: int  # in compiled plans (``Plan.ops``), one byte a gate
    symbol: str  # in the picture
    identity: float  # the fold of no inputs: ``before`` of the first input, ``after`` of the last
    value: Callable[[float, float], float]
    partial: Callable[[float, float], float]
    partial_reads_others: bool  # False when ``partial`` ignores ``before`` and ``after``: the kernels skip the folds


ADD = Op("add", 0, "+", 0.0, add_value, add_partial, partial_reads_others=False)
MUL = Op("mul", 1, "×", 1.0, mul_value, mul_partial, partial_reads_others=True)

OPS: tuple[Op, ...] = (ADD, MUL)  # indexed by code
NAMES: tuple[str, ...] = tuple(op.name for op in OPS)
CODE_OF: dict[str, int] = {op.name: op.code for op in OPS}

assert all(op.code == i for i, op in enumerate(OPS)), "codes index OPS"


def names_text() -> str:
    """The op names for a message: ``'add' or 'mul'``."""
    quoted = [repr(name) for name in NAMES]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
