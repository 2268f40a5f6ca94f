"""Linear structural checks of a graph definition's parts: ids, constants, gates.

Each check has a fast path built from C-level builtins over the whole list (``set(map(type,
...))``, one regex over the joined ids), which is what keeps a 10^6-gate definition cheap, and
a slow path that runs only when the fast path fails, to name every problem with its path.
Paths here are relative to the field (``[3].inputs[1]``); the schema prefixes the field name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from typing import Any

from .errors import Problem, join_path
from .numbers import json_type, number_problem
from .ops import NAMES, names_text

MAX_ID_LENGTH = 128
GATE_KEYS = frozenset(("id", "op", "inputs"))
_BAD_ID_CHAR = re.compile(r"[^A-Za-z0-9_.:\-]")


@dataclass(frozen=True)
class GateColumns:
    """The gate list, column by column: what compilation needs, without a dict per gate."""

    ids: list[str]
    ops: list[str]
    inputs: list[list[str]]


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid node id, or None."""
    if type(value) is not str:
        return f"must be a node id (a string), not {json_type(value)}"
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
    bad = _BAD_ID_CHAR.search(value)
    if bad:
        return f"{bad.group()!r} is not allowed in a node id (use A-Z a-z 0-9 _ . : -)"
    return None


def ids_are_valid(values: list[Any]) -> bool:
    """Whether every item is a valid id, in a handful of C-level passes."""
    if not values:
        return True
    if set(map(type, values)) != {str}:
        return False
    lengths = list(map(len, values))
    if min(lengths) < 1 or max(lengths) > MAX_ID_LENGTH:
        return False
    return _BAD_ID_CHAR.search("".join(values)) is None


def check_id_list(value: Any) -> tuple[list[str], list[Problem]]:
    """A JSON array of node ids (the graph's ``inputs`` or ``outputs``)."""
    if type(value) is not list:
        return [], [Problem("", f"must be an array of node ids, not {json_type(value)}")]
    if ids_are_valid(value):
        return value, []
    problems = []
    for i, item in enumerate(value):
        why = id_problem(item)
        if why:
            problems.append(Problem(f"[{i}]", why))
    return value, problems


def check_constants(value: Any) -> tuple[dict[str, float], list[Problem]]:
    """A JSON object mapping constant ids to finite numbers."""
    if type(value) is not dict:
        return {}, [Problem("", f"must be an object of id: number, not {json_type(value)}")]
    problems = []
    for key, number in value.items():
        why = id_problem(key)
        if why:
            problems.append(Problem(join_path("", key), f"id {why}"))
        why = number_problem(number)
        if why:
            problems.append(Problem(join_path("", key), why))
    return value, problems


def check_gates(value: Any) -> tuple[GateColumns | None, list[Problem]]:
    """The gate list: objects with an id, an op of the op table, and two or more input ids."""
    if type(value) is not list:
        return None, [Problem("", f"must be an array of gates, not {json_type(value)}")]
    if not value:
        return None, [Problem("", "must contain at least one gate")]
    try:
        columns = _gate_columns_fast(value)
    except (TypeError, KeyError):
        columns = None
    if columns is not None:
        return columns, []
    problems = [p for i, gate in enumerate(value) for p in _gate_problems(i, gate)]
    return None, problems


def _gate_columns_fast(gates: list[Any]) -> GateColumns | None:
    """Columns of a well-formed gate list, or None (or an exception) at the first doubt."""
    if set(map(type, gates)) != {dict} or set(map(len, gates)) != {3}:
        return None
    ids = [g["id"] for g in gates]
    ops = [g["op"] for g in gates]
    inputs = [g["inputs"] for g in gates]
    if not set(ops) <= set(NAMES) or set(map(type, inputs)) != {list}:
        return None
    if min(map(len, inputs)) < 2 or not ids_are_valid(ids):
        return None
    if set(map(type, chain.from_iterable(inputs))) != {str}:
        return None
    return GateColumns(ids, ops, inputs)


def _gate_problems(i: int, gate: Any) -> list[Problem]:
    """Every problem of one gate, each with its path."""
    here = f"[{i}]"
    if type(gate) is not dict:
        return [Problem(here, f"must be a gate object, not {json_type(gate)}")]
    problems = [Problem(join_path(here, key), "unknown field") for key in gate if key not in GATE_KEYS]
    problems += [Problem(join_path(here, key), "is required") for key in ("id", "op", "inputs") if key not in gate]
    if "id" in gate and (why := id_problem(gate["id"])):
        problems.append(Problem(f"{here}.id", why))
    if "op" in gate and gate["op"] not in NAMES:
        problems.append(Problem(f"{here}.op", f"must be {names_text()}, not {_short(gate['op'])}"))
    if "inputs" in gate:
        problems += _gate_input_problems(f"{here}.inputs", gate["inputs"])
    return problems


def _gate_input_problems(here: str, inputs: Any) -> list[Problem]:
    if type(inputs) is not list:
        return [Problem(here, f"must be an array of node ids, not {json_type(inputs)}")]
    problems = []
    if len(inputs) < 2:
        problems.append(Problem(here, f"a gate needs two or more inputs, got {len(inputs)}"))
    for k, item in enumerate(inputs):
        if why := id_problem(item):
            problems.append(Problem(f"{here}[{k}]", why))
    return problems


def _short(value: Any) -> str:
    """A value for a message, truncated so a hostile value cannot bloat the answer."""
    text = repr(value) if isinstance(value, str) else json_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


def reference_problems(definition: Any) -> list[Problem]:
    """Unknown node references of a definition that failed its other checks, as far as its shape allows.

    Compilation resolves references only in a definition whose structure is sound; this pass runs
    when it is not, so one answer lists an unknown op and an unknown node together. Parts too
    broken to read (a gate that is not an object, an id that is not a string) have their own
    problems reported already; where the ids cannot all be read, no reference is checked.
    """
    if type(definition) is not dict:
        return []
    inputs, constants, gates, outputs = (definition.get(k) for k in ("inputs", "constants", "gates", "outputs"))
    readable = type(inputs) is list and type(constants or {}) is dict and type(gates) is list
    if not readable or not all(type(g) is dict and type(g.get("id")) is str for g in gates):
        return []  # the ids are not all known: a reference could be wrongly called unknown
    ids = [*inputs, *(constants or {}), *(g["id"] for g in gates)]
    if any(type(x) is not str or id_problem(x) for x in ids):
        return []  # a misspelt id would make every reference to it look unknown: its own problem says enough
    known = set(ids)
    problems = [
        Problem(f"gates[{i}].inputs[{k}]", f"unknown node {ref!r}")
        for i, gate in enumerate(gates)
        if type(gate.get("inputs")) is list
        for k, ref in enumerate(gate["inputs"])
        if type(ref) is str and ref not in known
    ]
    if type(outputs) is list:
        problems += [
            Problem(f"outputs[{k}]", f"unknown node {ref!r}")
            for k, ref in enumerate(outputs)
            if type(ref) is str and ref not in known
        ]
    return problems
