"""Formatting shared by the benchmarks: numbers to a few significant digits, plain-text tables."""

from __future__ import annotations

import math
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def num(v: float | None, digits: int = 3) -> str:
    """A number to ``digits`` significant digits (thousands separated); blank for None or NaN."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if abs(v) >= 10 ** (digits - 1):
        return f"{v:,.0f}"
    return f"{v:.{max(0, digits - 1 - math.floor(math.log10(abs(v))))}f}"


def table(header: list[str], lines: list[list[str]], right: set[int] | None = None) -> str:
    """A plain-text table; columns in ``right`` (default: all but the first) are right-aligned."""
    right = set(range(1, len(header))) if right is None else right
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def version(package: str) -> str:
    """An installed package's version, or "?"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def commit(*paths: str) -> str:
    """The checked-out commit, and whether ``paths`` have uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", *paths], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'} ({'/'.join(paths)} {'has uncommitted changes' if dirty else 'as committed'})"
