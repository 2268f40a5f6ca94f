"""When a failed delivery is tried again: waits growing threefold from WEBHOOK_RETRY_BASE up to
WEBHOOK_RETRY_MAX, for WEBHOOK_RETRY_FOR after the event (by default 5 s, 15 s, 45 s, … 4 h, for 36 h:
about 16 attempts, comfortably past the 24 hours SPEC.md asks for).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from service.runtime.times import utc

GROWTH = 3.0


def next_attempt_at(
    attempts: int, occurred_at: datetime, now: datetime, base: float, longest: float, retry_for: float
) -> datetime | None:
    """The time of the next attempt after ``attempts`` failed ones; None when the delivery is to be given up."""
    wait = min(longest, base * GROWTH ** max(0, attempts - 1))
    at = now + timedelta(seconds=wait)
    return None if at - utc(occurred_at) > timedelta(seconds=retry_for) else at
