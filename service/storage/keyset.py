"""Keyset paging of lists, newest first on (created_at, id), so pages stay stable under inserts.

The position is the (created_at, id) of the last row of the previous page; the API turns it
into an opaque cursor and back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

After = tuple[datetime, str]  # (created_at, id) of the last row already given


def newest_first(
    session: Session, query: Select, model: Any, after: After | None, limit: int
) -> tuple[list[Any], bool]:
    """Up to ``limit`` rows of ``query`` (rows of ``model``) after ``after``; and whether more follow."""
    if after is not None:
        created, last_id = after
        query = query.where(or_(model.created_at < created, and_(model.created_at == created, model.id < last_id)))
    rows = list(session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def position(row: Any) -> After:
    """The keyset position of a row, for the next page."""
    return row.created_at, row.id
