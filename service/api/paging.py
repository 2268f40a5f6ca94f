"""Lists in pages: ``?limit=`` within MAX_PAGE, and newest-first cursors over storage's keyset positions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from service.graph import Problem
from service.storage.keyset import After, position

from .answers import iso
from .cursors import bad_cursor, decode_cursor, encode_cursor
from .problems import invalid
from .request_context import settings


def page_limit(query: dict[str, Any]) -> int:
    """?limit=, within MAX_PAGE. :raise ApiProblem: 422 naming the limit."""
    limit, most = query["limit"], settings().max_page
    if limit > most:
        raise invalid([Problem("limit", f"{limit} is over the limit MAX_PAGE={most}")], "query string")
    return limit


def after_cursor(query: dict[str, Any]) -> After | None:
    """The keyset position in ``?cursor=``, or None for the first page. :raise ApiProblem: 422."""
    state = decode_cursor(query.get("cursor"), list)
    if state is None:
        return None
    try:
        return datetime.fromisoformat(state[0]), str(uuid.UUID(state[1]))
    except (IndexError, TypeError, ValueError, AttributeError):
        raise bad_cursor() from None


def page_body(rows: list[Any], more: bool, render: Callable[[list[Any]], list[dict]]) -> dict[str, Any]:
    """A page answer: the rendered items, and the cursor of the next page (None on the last)."""
    cursor = None
    if more:
        created, last_id = position(rows[-1])
        cursor = encode_cursor([iso(created), last_id])
    return {"items": render(rows), "next_cursor": cursor}
