"""Numbers in and out of JSON: what counts as a number, and how non-finite results are written.

JSON has no NaN or Infinity. On the way in, ``1e400`` overflows to infinity and booleans
are ints in Python, so both are checked for explicitly. On the way out, non-finite
results are written as the strings ``"Infinity"``, ``"-Infinity"`` and ``"NaN"``, as the
protobuf JSON mapping does.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import orjson

from .gc_pause import gc_paused

_NUMBER_TYPES = (int, float)


#: Arrays and objects nest at most this deep (orjson's own limit); no graph or job needs more than 4.
MAX_JSON_DEPTH = 1024
#: Integers longer than this are read as infinity (refused by validation) instead of being parsed:
#: Python refuses to parse integers of more than 4300 digits, and no float64 has more than 309.
_MAX_INT_DIGITS = 400
#: A lone UTF-16 surrogate may hide in a ``\uD800``-style escape (or, in a str, as itself).
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_MAYBE_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


class MalformedJSON(ValueError):
    """The body is not JSON at all (as opposed to JSON that breaks the contract)."""


class JSONTooDeep(MalformedJSON):
    """JSON whose arrays and objects nest deeper than MAX_JSON_DEPTH: over a limit rather than malformed."""

    def __init__(self) -> None:
        super().__init__(f"arrays and objects nest deeper than the limit MAX_JSON_DEPTH={MAX_JSON_DEPTH}")


def _refuse_constant(name: str) -> Any:
    raise MalformedJSON(f"{name} is not valid JSON (RFC 8259)")


def _parse_int(digits: str) -> int | float:
    if len(digits) > _MAX_INT_DIGITS:
        return -math.inf if digits.startswith("-") else math.inf
    return int(digits)


def loads(text: bytes | str) -> Any:
    """Parse JSON; fast path with orjson, standard library for what orjson refuses but JSON allows.

    orjson refuses numbers outside float64 (``1e400``, or an integer of 400 digits), which are
    valid JSON; those are parsed to infinity here (or to a Python int, when it has fewer digits)
    and refused later, with a path, by validation. Strings must be Unicode text: a lone surrogate
    escape (``"\\ud800"``), which orjson refuses and the standard library would let through, is
    refused here too.
    :raise JSONTooDeep: the text nests deeper than MAX_JSON_DEPTH.
    :raise MalformedJSON: the text is not JSON.
    """
    try:
        with gc_paused():
            return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):
            raise JSONTooDeep() from None
    try:
        with gc_paused():
            value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except MalformedJSON:
        raise
    except RecursionError:
        raise JSONTooDeep() from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedJSON(str(exc)) from None
    pattern = _MAYBE_SURROGATE_BYTES if isinstance(text, (bytes, bytearray, memoryview)) else _MAYBE_SURROGATE
    if pattern.search(text if not isinstance(text, memoryview) else bytes(text)) and _holds_surrogate(value):
        raise MalformedJSON("a string holds a lone UTF-16 surrogate (\\ud800 to \\udfff), which is not Unicode text")
    return value


def _holds_surrogate(value: Any) -> bool:
    """Whether any string (or object key) in a parsed value is not encodable as UTF-8; iterative."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            strings = (node,)
        elif isinstance(node, dict):
            strings = node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
            continue
        else:
            continue
        for s in strings:
            if not s.isascii():
                try:
                    s.encode("utf-8")
                except UnicodeEncodeError:
                    return True
    return False


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
