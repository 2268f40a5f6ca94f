"""marshmallow schemas of a graph definition and of a job request.

marshmallow declares the request's structure (and, through apispec, the OpenAPI
document); the bulk of a graph (the gate list, the id lists) is checked by fields whose
``_deserialize`` makes one linear sweep (``structure.py``), because a nested schema per
gate costs about 70 us a gate. Loading a definition returns a compiled ``Plan``.

Unknown fields are refused everywhere (marshmallow's default, ``RAISE``), so a typo such
as ``"output"`` for ``"outputs"`` is reported instead of silently ignored.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import numpy as np
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from .compile import compile_graph
from .errors import InvalidInput, Problem, flatten_messages, nest
from .gc_pause import gc_paused
from .limits import DEFAULT_LIMITS, Limits
from .numbers import json_type
from .ops import NAMES
from .plan import Plan
from .structure import MAX_ID_LENGTH, check_constants, check_gates, check_id_list, reference_problems

#: The worked example of SPEC.md, in the OpenAPI document (and so among the requests API fuzzers send).
EXAMPLE_GATES = [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}]
NODE_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": r"^[A-Za-z0-9_.:\-]+$"}


def _no_nul(text: str) -> None:
    """Text the databases can store: PostgreSQL text holds no NUL character."""
    if "\x00" in text:
        raise ValidationError("must not contain the NUL character (\\u0000)")


# whether this load reached compilation (a context variable: one schema serves concurrent requests)
_COMPILED: ContextVar[bool] = ContextVar("compiled", default=False)
FIELD_ORDER = {name: i for i, name in enumerate(("name", "inputs", "constants", "gates", "outputs"))}


def _reading_order(problem: Problem) -> tuple[int, int]:
    """Fields in the order a definition is written, gates by index (a stable sort keeps the rest as found)."""
    head, _, rest = problem.path.partition("[")
    index = rest.split("]", 1)[0]
    return (FIELD_ORDER.get(head.split(".")[0], len(FIELD_ORDER)), int(index) if index.isdigit() else -1)


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise ValidationError(nest(problems))


class NodeIdList(fields.List):
    """An array of node ids, checked in one sweep."""

    def __init__(self, **kwargs: Any):
        super().__init__(fields.String(metadata=NODE_ID), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        ids, problems = check_id_list(value)
        _raise(problems)
        return ids


class Constants(fields.Dict):
    """An object of constant id -> finite number."""

    def __init__(self, **kwargs: Any):
        super().__init__(keys=fields.String(metadata=NODE_ID), values=fields.Float(), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, float]:
        constants, problems = check_constants(value)
        _raise(problems)
        return constants


class GateSchema(Schema):
    """One gate, as the OpenAPI document shows it.

    Only the document reads this schema: ``Gates`` checks the whole list in one sweep
    (``structure.check_gates``), because a nested schema per gate costs about 70 us a gate.
    """

    id = fields.String(required=True, metadata=NODE_ID)
    op = fields.String(required=True, validate=validate.OneOf(NAMES))
    inputs = fields.List(fields.String(metadata=NODE_ID), required=True, validate=validate.Length(min=2))


class Gates(fields.List):
    """The gate list, returned as columns (``GateColumns``)."""

    def __init__(self, **kwargs: Any):
        super().__init__(fields.Nested(GateSchema), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        columns, problems = check_gates(value)
        _raise(problems)
        return columns


class GraphDefinitionSchema(Schema):
    """A graph definition (``POST /v1/graphs``); ``load`` returns a compiled ``Plan``."""

    name = fields.String(
        validate=[validate.Length(max=200), _no_nul],
        metadata={"description": "Free text.", "example": "cs231n-circuit"},
    )
    inputs = NodeIdList(
        required=True, metadata={"description": "Ids of the variables each job supplies.", "example": ["x", "y", "z"]}
    )
    constants = Constants(metadata={"description": "Constant id -> finite number.", "example": {"two": 2.0}})
    gates = Gates(
        required=True,
        metadata={
            "description": "Gates (ops: " + ", ".join(NAMES) + "), in any order; acyclic.",
            "example": EXAMPLE_GATES,
        },
    )
    outputs = NodeIdList(metadata={"description": "Default: every gate that no other gate reads.", "example": ["f"]})

    limits: Limits = DEFAULT_LIMITS  # a subclass may make this a property that reads configuration

    def __init__(self, *args: Any, limits: Limits | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if limits is not None:
            self.limits = limits

    def load(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Load with the garbage collector paused: a large definition is millions of live objects.

        A definition refused by its structure is also checked for unknown references, so that one
        answer names every problem (compilation, which resolves them, runs only on a sound one).
        """
        compiled = _COMPILED.set(False)
        with gc_paused():
            try:
                return super().load(data, *args, **kwargs)
            except ValidationError as exc:
                if _COMPILED.get():  # compilation resolved every reference already (its pass costs 1.7 s at 10^6 gates)
                    raise
                problems = flatten_messages(exc.messages)
                seen = {(p.path, p.message) for p in problems}
                extra = [p for p in reference_problems(data) if (p.path, p.message) not in seen]
                if not extra:
                    raise
                raise ValidationError(nest(sorted(problems + extra, key=_reading_order))) from None
            finally:
                _COMPILED.reset(compiled)

    @validates_schema
    def _within_limits(self, data: dict[str, Any], **kwargs: Any) -> None:
        limits = self.limits
        problems = []
        gates = data["gates"]
        if gates.n_gates > limits.max_gates:
            problems.append(Problem("gates", f"has {gates.n_gates} gates; the limit is max_gates={limits.max_gates}"))
        leaves = len(data["inputs"]) + len(data.get("constants", {}))
        if leaves > limits.max_leaves:
            problems.append(
                Problem("inputs", f"has {leaves} inputs and constants; the limit is max_leaves={limits.max_leaves}")
            )
        widest = int(gates.arity.max())  # counted once, by the gate list's check
        if widest > limits.max_gate_inputs:
            i = int(np.argmax(gates.arity))  # the first of the widest
            problems.append(
                Problem(
                    f"gates[{i}].inputs", f"has {widest} inputs; the limit is max_gate_inputs={limits.max_gate_inputs}"
                )
            )
        _raise(problems)

    @post_load
    def _compile(self, data: dict[str, Any], **kwargs: Any) -> Plan:
        _COMPILED.set(True)
        try:
            return compile_graph(
                data["inputs"], data.get("constants", {}), data["gates"], data.get("outputs"), data.get("name")
            )
        except InvalidInput as exc:
            raise ValidationError(nest(exc.problems)) from None


def load_graph(definition: Any, limits: Limits = DEFAULT_LIMITS) -> Plan:
    """Validate and compile a parsed JSON graph definition.

    :raise InvalidInput: with every problem found, each with its path.
    """
    if type(definition) is not dict:
        raise InvalidInput([Problem("", f"a graph definition must be a JSON object, not {json_type(definition)}")])
    try:
        return GraphDefinitionSchema(limits=limits).load(definition)
    except ValidationError as exc:
        raise InvalidInput(flatten_messages(exc.messages)) from None


class Assignment(fields.Dict):
    """An object of id -> number, or id -> array of numbers (a batch); bound to a plan later."""

    def __init__(self, **kwargs: Any):
        number_or_array = {"oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 1}]}
        super().__init__(keys=fields.String(metadata=NODE_ID), values=fields.Raw(metadata=number_or_array), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise ValidationError(f"must be an object of id: value, not {json_type(value)}")
        return value


class StrictBoolean(fields.Boolean):
    """A JSON true or false, nothing else (marshmallow's Boolean also takes 0, 1, "yes", "on"...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if type(value) is not bool:
            raise ValidationError(f"must be true or false, not {json_type(value)}")
        return value


class JobRequestSchema(Schema):
    """The inputs of a job (``POST /v1/graphs/{id}/jobs``), bound to the graph by ``bind_inputs``."""

    inputs = Assignment(
        required=True,
        metadata={
            "description": "Every graph input: numbers, or arrays of one length (a batch).",
            "example": {"x": -2, "y": 5, "z": -4},
        },
    )
    output_grads = Assignment(metadata={"description": "Output id -> dL/d(output); default 1.", "example": {"f": 1.0}})
    check_gradients = StrictBoolean(
        load_default=False, metadata={"description": "Also compare gradients with central finite differences."}
    )
    tangents = Assignment(
        metadata={
            "description": "A direction v over the inputs (input id -> number, or array of batch size; "
            "inputs not named: 0). Every node then also has its `tangent` (the derivative of its value "
            "along v) and `grad_tangent` (of its gradient along v: H v at the inputs).",
            "example": {"x": 1},
        }
    )
