"""Files in and out of the `gategraph` client commands: graphs, inputs (JSON or CSV), streamed results."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import DownloadColumn, Progress, TextColumn, TransferSpeedColumn


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


PROGRESS_AFTER = 4 << 20  # bytes: smaller answers are written without a progress bar


def stream_to(chunks: Iterable[bytes], path: Path | None, console: Console) -> None:
    """Write a streamed answer to ``path`` (standard output if None), with a bar on a terminal for large ones."""
    out = path.open("wb") if path is not None else sys.stdout.buffer
    progress: Progress | None = None
    written = 0
    try:
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
            if progress is None and written > PROGRESS_AFTER and console.is_terminal:
                progress = Progress(
                    TextColumn("results"), DownloadColumn(), TransferSpeedColumn(), console=console, transient=True
                )
                progress.start()
                task = progress.add_task("results", total=None)
            if progress is not None:
                progress.update(task, completed=written)
    finally:
        if progress is not None:
            progress.stop()
        if path is not None:
            out.close()
        else:
            out.flush()
