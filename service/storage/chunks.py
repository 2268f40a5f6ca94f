"""Reading consecutive items (nodes) stored ``size`` to a row, as graph ids and job results are."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session


def chunk_rows(
    session: Session, table: Any, key: Any, start: int, stop: int, size: int, *columns: Any
) -> tuple[list[Row], int]:
    """The rows (in order) of the chunks that hold items ``start`` to ``stop``, and where ``start`` is in the first.

    ``key`` is the condition naming the owner (``table.job_id == id``); chunks are read by primary key range.
    """
    first, last = start // size, (stop - 1) // size
    rows = session.execute(select(*columns).where(key, table.chunk.between(first, last)).order_by(table.chunk)).all()
    return list(rows), start - first * size
