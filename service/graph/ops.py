"""The op table: every gate's name, code, symbol, and its four rules, stated once, side by side.

As in micrograd's ``engine.py``, each op says how its output is computed and how a gradient
flows back through it, next to each other; and, for directions (SPEC.md "Directions and
curvature"), how each of those two changes along a direction: the rules' derivatives.

A gate of n inputs folds them with the op's ``value`` rule, starting from the first input
(``x1 op x2 op ... op xn``); its local gradient with respect to input k is
``partial(before_k, after_k)``, where ``before_k`` and ``after_k`` are the folds of the inputs
before and after k (the op's ``identity`` when there are none). The gradient that flows into
input k is ``upstream * partial(before_k, after_k)``, added, never assigned, which is what makes
fan-out and repeated inputs (``mul(x, x)``) come out right.

The two further rules are the first two in dual numbers (a number and its derivative along the
direction, its tangent): ``tangent(acc, acc_t, x, x_t)`` is the tangent of ``value(acc, x)``, and
``partial_tangent(before, before_t, after, after_t)`` the tangent of ``partial(before, after)``.
A node's tangent folds with ``tangent`` beside its value (forward mode, a Jacobian-vector
product); its gradient's tangent flows back as ``upstream_t * partial + upstream *
partial_tangent`` (forward-over-reverse, a Hessian-vector product at the inputs).

The rules are compiled functions, so the kernels (``kernels.py``, ``tangent_kernels.py``, which
pick them by op code through ``dispatch.py``) inline them in their loops;
everything else (compile, serialization, schemas, the picture, the API) reads names, codes and
symbols from ``OPS``. Adding an op means: its four rules and its ``Op`` row here, and its branch in
each dispatcher of ``dispatch.py``.
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
def add_tangent(acc: float, acc_t: float, x: float, x_t: float) -> float:
    """d(acc + x) = d acc + d x"""
    return acc_t + x_t


@njit(cache=True, inline="always")
def add_partial_tangent(before: float, before_t: float, after: float, after_t: float) -> float:
    """d(1) = 0 (kernels skip it: see ``partial_reads_others``)"""
    return 0.0


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


@njit(cache=True, inline="always")
def mul_tangent(acc: float, acc_t: float, x: float, x_t: float) -> float:
    """d(acc * x) = d acc * x + acc * d x"""
    return acc_t * x + acc * x_t


@njit(cache=True, inline="always")
def mul_partial_tangent(before: float, before_t: float, after: float, after_t: float) -> float:
    """d(before * after) = d before * after + before * d after: prefix and suffix folds again, no division."""
    return before_t * after + before * after_t


@dataclass(frozen=True)
class Op:
    name: str  # in graph definitions and answers
    code: int  # in compiled plans (``Plan.ops``), one byte a gate
    symbol: str  # in the picture
    identity: float  # the fold of no inputs: ``before`` of the first input, ``after`` of the last
    value: Callable[[float, float], float]
    partial: Callable[[float, float], float]
    tangent: Callable[[float, float, float, float], float]
    partial_tangent: Callable[[float, float, float, float], float]
    # False when ``partial`` ignores ``before`` and ``after`` (a constant): the kernels skip the
    # folds, and the constant's tangent, which is 0 (multiplying by it would turn an infinite
    # upstream gradient into NaN where nothing changes)
    partial_reads_others: bool


ADD = Op("add", 0, "+", 0.0, add_value, add_partial, add_tangent, add_partial_tangent, partial_reads_others=False)
MUL = Op("mul", 1, "×", 1.0, mul_value, mul_partial, mul_tangent, mul_partial_tangent, partial_reads_others=True)

OPS: tuple[Op, ...] = (ADD, MUL)  # indexed by code
NAMES: tuple[str, ...] = tuple(op.name for op in OPS)
CODE_OF: dict[str, int] = {op.name: op.code for op in OPS}

assert all(op.code == i for i, op in enumerate(OPS)), "codes index OPS"


def names_text() -> str:
    """The op names for a message: ``'add' or 'mul'``."""
    quoted = [repr(name) for name in NAMES]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
