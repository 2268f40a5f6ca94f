"""Bind a job's ``inputs``, ``output_grads`` and ``tangents`` to a plan: names checked, numbers to arrays.

Scalar jobs give one number per input; batch jobs give arrays of one common length, the batch size
(columnar: one array per input). ``output_grads`` values are numbers, or arrays of
length batch_size in a batch; an output not named gets 1. ``tangents``, a direction over the
inputs, the same way: an input not named gets 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidInput, Problem, join_path
from .limits import DEFAULT_LIMITS, Limits
from .numbers import finite_floats, json_type, number_problem
from .plan import Plan


@dataclass(frozen=True)
class JobInputs:
    values: np.ndarray  # (n_inputs, batch_size)
    output_grads: np.ndarray  # (n_outputs, batch_size)
    batched: bool  # arrays were given: answers carry arrays, even for a batch of one
    tangents: np.ndarray | None = None  # (n_inputs, batch_size): the direction, when one was given

    @property
    def batch_size(self) -> int:
        return int(self.values.shape[1])


def bind_inputs(
    plan: Plan, inputs: Any, output_grads: Any = None, limits: Limits = DEFAULT_LIMITS, tangents: Any = None
) -> JobInputs:
    """Check a job's inputs (and output gradients and direction) against its graph and turn them into arrays.

    :raise InvalidInput: every problem found, each with its path.
    """
    if type(inputs) is not dict:
        raise InvalidInput([Problem("inputs", f"must be an object of input id: value, not {json_type(inputs)}")])
    problems = _name_problems(plan, inputs)
    kinds = set(map(type, inputs.values()))
    batched = list in kinds
    if batched and kinds != {list}:
        problems.append(Problem("inputs", "values must be all numbers or all arrays of numbers, not a mix"))
    if problems:
        raise InvalidInput(problems)
    batch_size = _batch_size(plan, inputs, limits) if batched else 1
    values = _input_matrix(plan, inputs, batch_size, batched)
    grads = np.ones((plan.outputs.size, batch_size), dtype=np.float64)
    problems = _fill_named(grads, "output_grads", output_grads, plan.output_ids, "output", batched)
    direction = None
    if tangents is not None:
        direction = np.zeros((plan.n_inputs, batch_size), dtype=np.float64)
        problems += _fill_named(direction, "tangents", tangents, plan.input_ids, "input", batched)
    if problems:
        raise InvalidInput(problems)
    return JobInputs(values, grads, batched, direction)


def _name_problems(plan: Plan, inputs: dict[str, Any]) -> list[Problem]:
    expected = plan.input_ids
    known = set(expected)
    problems = [
        Problem(join_path("inputs", name), "is not an input of this graph") for name in inputs if name not in known
    ]
    missing = [name for name in expected if name not in inputs]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10]) + (", ..." if len(missing) > 10 else "")
        problems.append(Problem("inputs", f"missing {len(missing)} input(s) of the graph: {shown}"))
    return problems


def _batch_size(plan: Plan, inputs: dict[str, list[Any]], limits: Limits) -> int:
    lengths = set(map(len, inputs.values()))
    if len(lengths) > 1:
        raise InvalidInput(
            [Problem("inputs", f"arrays must all have the same length, got lengths {sorted(lengths)[:10]}")]
        )
    batch_size = lengths.pop() if lengths else 1
    if batch_size < 1:
        raise InvalidInput([Problem("inputs", "arrays must hold at least one value")])
    if batch_size > limits.max_batch:
        raise InvalidInput(
            [Problem("inputs", f"batch size {batch_size} is over the limit max_batch={limits.max_batch}")]
        )
    cells = batch_size * plan.n_nodes
    if cells > limits.max_cells:
        raise InvalidInput(
            [
                Problem(
                    "inputs",
                    f"nodes x batch size = {plan.n_nodes} x {batch_size} = {cells} "
                    f"is over the limit max_cells={limits.max_cells}",
                )
            ]
        )
    return batch_size


def _input_matrix(plan: Plan, inputs: dict[str, Any], batch_size: int, batched: bool) -> np.ndarray:
    ids = plan.input_ids
    if not batched:
        row = finite_floats([inputs[name] for name in ids])
        if row is None:
            raise InvalidInput(_number_problems({join_path("inputs", n): inputs[n] for n in ids}))
        return row.reshape(-1, 1)
    values = np.empty((len(ids), batch_size), dtype=np.float64)
    problems: list[Problem] = []
    for i, name in enumerate(ids):
        row = finite_floats(inputs[name])
        if row is None:
            problems += _item_problems(join_path("inputs", name), inputs[name])
        else:
            values[i] = row
    if problems:
        raise InvalidInput(problems)
    return values


def _fill_named(matrix: np.ndarray, field: str, given: Any, ids: list[str], noun: str, batched: bool) -> list[Problem]:
    """Set the rows of ``matrix`` (one per id) that ``given`` names; return the problems found.

    ``given`` is an object of id -> number, or in a batch id -> number or array of batch_size numbers.
    """
    if given is None:
        return []
    if type(given) is not dict:
        return [Problem(field, f"must be an object of {noun} id: number, not {json_type(given)}")]
    row_of = {name: i for i, name in enumerate(ids)} if len(given) else {}
    batch_size = matrix.shape[1]
    problems = []
    for name, value in given.items():
        path = join_path(field, name)
        if name not in row_of:
            problems.append(Problem(path, f"is not an {noun} of this graph"))
        elif batched and type(value) is list:
            row = finite_floats(value)
            if len(value) != batch_size:
                problems.append(Problem(path, f"has {len(value)} values; the batch size is {batch_size}"))
            elif row is None:
                problems += _item_problems(path, value)
            else:
                matrix[row_of[name]] = row
        elif why := number_problem(value):
            problems.append(Problem(path, why if not batched else f"{why} or an array of {batch_size} numbers"))
        else:
            matrix[row_of[name]] = float(value)
    return problems


def _number_problems(values: dict[str, Any]) -> list[Problem]:
    return [Problem(path, why) for path, v in values.items() if (why := number_problem(v))]


def _item_problems(path: str, items: list[Any]) -> list[Problem]:
    return [Problem(f"{path}[{k}]", why) for k, v in enumerate(items) if (why := number_problem(v))]
