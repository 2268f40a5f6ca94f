"""The ``wait`` preference of RFC 7240 ``Prefer`` headers.

Written here because neither Werkzeug nor flask-smorest parses ``Prefer``; the grammar needed is
small: comma-separated preferences, each ``token [= value] *( ; parameter )``, names case-insensitive,
values optionally quoted, the first occurrence of a preference winning (RFC 7240, section 2).
"""

from __future__ import annotations


def prefer_wait(headers: list[str]) -> int | str | None:
    """Seconds of the first ``wait`` preference; None without one; a message (str) when it is malformed."""
    for header in headers:
        for preference in header.split(","):
            name, _, value = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() != "wait":
                continue
            value = value.strip().strip('"')
            if not value.isascii() or not value.isdigit():
                return f"wait={value[:40]!r} must be a whole number of seconds (RFC 7240), such as wait=5"
            return int(value)
    return None
