"""Validation problems located by a path into the request (``gates[3].inputs[1]``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: More problems than this are counted but not listed, so a hostile body
#: cannot make the error answer larger than the request.
MAX_LISTED_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidInput(ValueError):
    """A graph definition or job request that breaks the contract; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        first = problems[0] if problems else Problem("", "invalid")
        where = f"{first.path}: " if first.path else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}{first.message}{more}")


def join_path(prefix: str, key: str | int) -> str:
    """Append one step to a path: ints become ``[i]``, names ``.name``; ``[..`` steps attach as they are."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    if not prefix or key.startswith("["):
        return f"{prefix}{key}"
    return f"{prefix}.{key}"


def flatten_messages(messages: Any, prefix: str = "") -> list[Problem]:
    """Turn marshmallow's nested error dict into a flat, ordered list of problems."""
    out: list[Problem] = []
    stack: list[tuple[str, Any]] = [(prefix, messages)]
    while stack:  # iterative: a hostile body may nest deeply
        path, node = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
            for key, sub in reversed(items):
                sub_path = path if key == "_schema" else join_path(path, key)
                stack.append((sub_path, sub))
        elif isinstance(node, (list, tuple)):
            for sub in reversed(node):
                stack.append((path, sub))
        else:
            out.append(Problem(path, str(node)))
    return out


def nest(problems: Iterable[Problem]) -> dict[str, list[str]]:
    """Group problems by path, the shape marshmallow expects from a validator."""
    grouped: dict[str, list[str]] = {}
    for p in problems:
        grouped.setdefault(p.path or "_schema", []).append(p.message)
    return grouped
