"""Files in and out of the `gategraph` client commands: graphs, inputs (JSON or CSV), nodes (JSON or CSV)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import click


def read_graph(path: Path) -> str | dict[str, Any]:
    """A definition from a JSON file (or its ``graph`` member), or a graph id from a text file."""
    text = path.read_text()
    if path.suffix != ".json":
        return text.strip()
    data = _json(text, path)
    return data["graph"] if isinstance(data, dict) and "graph" in data else data


def read_inputs(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(inputs, output_grads, tangents) from JSON, or a batch from CSV: a header of input ids, a row per assignment."""
    if path.suffix.lower() == ".csv":
        return _csv_batch(path), None, None
    data = _json(path.read_text(), path)
    if isinstance(data, dict) and "inputs" in data:
        return data["inputs"], data.get("output_grads"), data.get("tangents")
    return data, None, None


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not JSON ({exc})") from None


def _csv_batch(path: Path) -> dict[str, list[float]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise click.ClickException(f"{path}: empty CSV; the first row names the inputs")
        columns: dict[str, list[float]] = {name.strip(): [] for name in header}
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise click.ClickException(f"{path}:{line}: {len(row)} values, the header has {len(header)}")
            for name, cell in zip(columns, row, strict=True):
                try:
                    columns[name].append(float(cell))
                except ValueError:
                    raise click.ClickException(f"{path}:{line}: {cell!r} in column {name!r} is not a number") from None
    return columns


CSV_NUMBERS = ("value", "grad")
CSV_TANGENTS = ("tangent", "grad_tangent")  # columns for a job with a direction


def write_nodes(items: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> None:
    """JSON lines, or CSV with one row per node (per node and batch item for a batch)."""
    if fmt == "json":
        for item in items:
            out.write(json.dumps(item) + "\n")
        return
    writer = csv.writer(out)
    numbers: tuple[str, ...] = ()
    for item in items:
        if not numbers:  # the first item says whether the job had a direction
            numbers = CSV_NUMBERS + (CSV_TANGENTS if "tangent" in item else ())
            writer.writerow(["id", "kind", "op", "item", *numbers])
        head = [item["id"], item["kind"], item.get("op", "")]
        if not isinstance(item["value"], list):
            writer.writerow([*head, "", *(item[name] for name in numbers)])
            continue
        for b, row in enumerate(zip(*(item[name] for name in numbers), strict=True)):
            writer.writerow([*head, b, *row])
