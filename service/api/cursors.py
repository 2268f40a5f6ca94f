"""Opaque page cursors: a small JSON state, base64url without padding, checked on the way back in."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from service.graph import Problem

from .problems import ApiProblem, invalid


def bad_cursor() -> ApiProblem:
    """422 for a ``cursor`` this service did not give out."""
    return invalid([Problem("cursor", "is not a cursor this service gave out")], "query string")


def encode_cursor(state: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str | None, check: type) -> Any:
    """The state in a cursor made by encode_cursor, or None without one. :raise ApiProblem: 422 if it is not one."""
    if cursor is None:
        return None
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        state = None
    if not isinstance(state, check):
        raise bad_cursor()
    return state
