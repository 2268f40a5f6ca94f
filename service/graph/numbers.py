"""Numbers in and out of JSON: what counts as a number, and how non-finite results are written.

JSON has no NaN or Infinity. On the way in, ``1e400`` overflows to infinity and booleans
are ints in Python, so both are checked for explicitly. On the way out, non-finite
results are written as the strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``, as the
protobuf JSON mapping does.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson

_NUMBER_TYPES = (int, float)


class MalformedJSON(ValueError):
    """The body is not JSON at all (as opposed to JSON that breaks the contract)."""


def _refuse_constant(name: str) -> Any:
    raise MalformedJSON(f"{name} is not valid JSON (RFC 8259)")


def loads(text: bytes | str) -> Any:
    """Parse JSON; fast path with orjson, standard library for what orjson refuses but JSON allows.

    orjson refuses numbers outside float64 (``1e400``), which are valid JSON; those are parsed
    to infinity here and refused later, with a path, by validation.
    :raise MalformedJSON: the text is not JSON.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except MalformedJSON:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedJSON(str(exc)) from None


def number_problem(value: Any) -> str | None:
    """Why ``value`` is not a finite JSON number, or None if it is one."""
    if type(value) not in _NUMBER_TYPES:  # bool is a subclass of int: excluded by exact type
        if isinstance(value, str):
            return f"must be a number, not the string {value[:40]!r}"
        return f"must be a number, not {json_type(value)}"
    try:
        if math.isfinite(value):
            return None
    except OverflowError:  # an int too large for a float
        pass
    return "must be a finite number"


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def finite_floats(values: list[Any]) -> np.ndarray | None:
    """A list of JSON numbers as a float64 array, or None if any item is not a finite number."""
    if not set(map(type, values)) <= set(_NUMBER_TYPES):
        return None
    try:
        arr = np.array(values, dtype=np.float64)
    except OverflowError:
        return None
    if not np.isfinite(arr).all():
        return None
    return arr


_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def json_float(x: float) -> float | str:
    """One float as JSON allows it: non-finite values become strings."""
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else _NON_FINITE[x]


def json_floats(arr: np.ndarray) -> list[Any]:
    """A float array as a (nested) list that JSON allows, non-finite values as strings."""
    out = arr.tolist()
    if np.isfinite(arr).all():
        return out
    if arr.ndim == 1:
        return [json_float(x) for x in out]
    return [json_floats(row) for row in arr]
