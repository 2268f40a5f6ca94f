"""Linear structural checks of a graph definition's parts: ids, constants, gates.

Each check has a fast path built from C-level builtins over the whole list (``set(map(len,
...))``, one join of the ids, one table lookup over its bytes), which is what keeps a 10^6-gate
definition cheap, and a slow path that runs only when the fast path fails, to name every problem
with its path. Paths here are relative to the field (``[3].inputs[1]``); the schema prefixes the
field name.

The gate list's fast path hands compilation joined bytes (``node_ids.py``), not lists of ``str``:
the gate ids and every reference, each newline-terminated, which ``resolve.py`` resolves in one
compiled pass. Joining them is also the type check (``str.join`` refuses anything but a str), and
each gate's arity is counted once, for the minimum here, the limit of the schema and the edges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from .errors import Problem, join_path
from .node_ids import SEPARATOR, item_starts, join_ids
from .numbers import json_type, number_problem
from .ops import CODE_OF, NAMES, names_text

MAX_ID_LENGTH = 128
GATE_KEYS = frozenset(("id", "op", "inputs"))
ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"
_BAD_ID_CHAR = re.compile(r"[^A-Za-z0-9_.:\-]")
# the bytes a newline-terminated run of valid ids may hold
_JOINED_ID_BYTE = np.zeros(256, dtype=bool)
_JOINED_ID_BYTE[np.frombuffer(ID_CHARS + SEPARATOR, dtype=np.uint8)] = True
# what a reference that could name no node is joined as: a character no id may hold
_NO_ID_CHAR = "?"
_ID, _OP, _INPUTS = itemgetter("id"), itemgetter("op"), itemgetter("inputs")


@dataclass(frozen=True, eq=False)
class GateColumns:
    """The gate list, column by column: what compilation needs, without a dict or a str per gate."""

    ids: bytes  # the gate ids, valid, each newline-terminated (node_ids.py)
    ops: np.ndarray  # uint8, the op code of each gate
    arity: np.ndarray  # int64, the number of inputs of each gate
    refs: bytes  # every gate input, gate by gate, each newline-terminated (see joined_refs)
    inputs: list[list[str]]  # the inputs as given: the text of an unknown reference, for its message

    @property
    def n_gates(self) -> int:
        return int(self.arity.size)


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
    except (TypeError, KeyError, UnicodeEncodeError):
        columns = None
    if columns is not None:
        return columns, []
    problems = [p for i, gate in enumerate(value) for p in _gate_problems(i, gate)]
    return None, problems


def _gate_columns_fast(gates: list[Any]) -> GateColumns | None:
    """Columns of a well-formed gate list, or None (or an exception) at the first doubt."""
    # len() of anything but a container raises, and a container other than a dict fails _OP below
    if set(map(len, gates)) != {3}:
        return None
    ops = np.fromiter(map(CODE_OF.__getitem__, map(_OP, gates)), dtype=np.uint8, count=len(gates))
    inputs = list(map(_INPUTS, gates))
    # list.__len__ raises on anything but a list: the type check and the count in one pass
    arity = np.fromiter(map(list.__len__, inputs), dtype=np.int64, count=len(inputs))
    if int(arity.min()) < 2:
        return None
    ids = join_ids(list(map(_ID, gates)))
    if not joined_ids_are_valid(ids, len(gates)):
        return None
    return GateColumns(ids, ops, arity, joined_refs(inputs, int(arity.sum())), inputs)


def joined_ids_are_valid(text: bytes, count: int) -> bool:
    """Whether ``text`` is ``count`` valid newline-terminated ids (``join_ids``), in a few vectorised passes."""
    if not _JOINED_ID_BYTE[np.frombuffer(text, dtype=np.uint8)].all():
        return False
    starts = item_starts(text)
    if starts.size != count + 1:  # an id held a newline
        return False
    lengths = np.diff(starts)  # each with its newline
    return count == 0 or (int(lengths.min()) >= 2 and int(lengths.max()) <= MAX_ID_LENGTH + 1)


def joined_refs(inputs: list[list[str]], count: int) -> bytes:
    """Every reference, newline-terminated, for ``resolve.py``.

    A reference that holds a newline or a character outside ASCII names no node (ids cannot hold
    either): it is joined with ``?`` in their place, which keeps one item a reference and still
    matches no id. Its message quotes the reference as given (``inputs``).

    :raise TypeError: a reference is not a str.
    """
    if count == 0:
        return b""
    # joined gate by gate, then together: 148 ms at 10^6 binary gates against 229 for one join of a chain
    text = "\n".join(map("\n".join, inputs))
    if text.count("\n") != count - 1:
        text = "\n".join(ref.replace("\n", _NO_ID_CHAR) for ref in chain.from_iterable(inputs))
    return (text + "\n").encode("ascii", "replace")


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
