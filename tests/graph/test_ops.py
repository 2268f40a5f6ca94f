"""The op table: one row per op, codes that index it, and rules that match their definitions."""

from fractions import Fraction
from math import prod

import pytest

from service.graph import ops
from service.graph.ops import ADD, MUL, OPS


def test_codes_index_the_table_and_names_are_unique():
    assert [op.code for op in OPS] == list(range(len(OPS)))
    assert len(set(ops.NAMES)) == len(OPS) and OPS[ops.CODE_OF["mul"]] is MUL and ops.CODE_OF["add"] == ADD.code
    assert ops.names_text() == "'add' or 'mul'"


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_identity_is_the_fold_of_no_inputs(op):
    for x in (-3.5, 0.0, 2.0):
        assert op.value(op.identity, x) == x and op.value(x, op.identity) == x


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_partial_is_the_derivative_of_the_fold_at_every_position(op):
    """partial(before_k, after_k) against exact central differences of the fold, in Fractions."""
    exact_fold = {"add": sum, "mul": lambda xs: prod(xs, start=Fraction(1))}[op.name]
    xs = [Fraction(3), Fraction(-2), Fraction(0), Fraction(5, 2)]
    for k in range(len(xs)):
        h = Fraction(1, 1000)
        up, down = xs.copy(), xs.copy()
        up[k] += h
        down[k] -= h
        slope = (exact_fold(up) - exact_fold(down)) / (2 * h)  # exact for a fold that is affine in x_k
        before, after = op.identity, op.identity
        for x in xs[:k]:
            before = op.value(before, float(x))
        for x in xs[k + 1 :]:
            after = op.value(after, float(x))
        assert op.partial(before, after) == slope


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_only_ops_whose_partial_reads_the_others_say_so(op):
    values = [(2.0, 3.0), (-1.0, 7.0), (0.0, 4.0)]
    constant = len({op.partial(b, a) for b, a in values}) == 1
    assert op.partial_reads_others is not constant
