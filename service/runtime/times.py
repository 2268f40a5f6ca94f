"""Moments as answers and callbacks write them: UTC, ISO 8601 with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """An aware UTC moment (SQLite hands back naive datetimes, which are UTC here)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with a Z."""
    if moment is None:
        return None
    return utc(moment).isoformat().replace("+00:00", "Z")
