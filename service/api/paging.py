"""Cursor paging of lists: newest first, keyed on (created_at, id) so pages stay stable under inserts."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Select, and_, or_

from service.graph import Problem

from .context import db, settings
from .problems import invalid
from .render import decode_cursor, encode_cursor, iso


def page_limit(args: dict[str, Any]) -> int:
    """?limit=, within MAX_PAGE. :raise ApiProblem: 422 naming the limit."""
    limit, most = args["limit"], settings().max_page
    if limit > most:
        raise invalid([Problem("limit", f"{limit} is over the limit MAX_PAGE={most}")], "query string")
    return limit


def keyset_page(query: Select, model: Any, args: dict[str, Any], render: Callable[[Any], dict]) -> dict[str, Any]:
    """One page of ``query`` (rows of ``model``), newest first, with the cursor of the next page."""
    limit = page_limit(args)
    state = decode_cursor(args.get("cursor"), list)
    if state is not None:
        try:
            created, last_id = datetime.fromisoformat(state[0]), str(uuid.UUID(state[1]))
        except (IndexError, TypeError, ValueError, AttributeError):
            raise invalid([Problem("cursor", "is not a cursor this service gave out")], "query string") from None
        query = query.where(or_(model.created_at < created, and_(model.created_at == created, model.id < last_id)))
    rows = list(db().scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor([iso(rows[-1].created_at), rows[-1].id]) if more else None
    return {"items": [render(r) for r in rows], "next_cursor": cursor}
