"""The formats of ``GET /v1/jobs/{id}/results``: an Arrow IPC stream, NDJSON or CSV, encoded a block at a time.

Each encoder turns one ``ResultBlock`` into the bytes of its part of the answer, so the answer
is streamed and its size never sits in memory. Arrow is written by pyarrow (the format data
tools read); NDJSON lines are exactly ``/nodes`` items; CSV writes non-finite numbers as JSON
answers do ("Infinity", "-Infinity", "NaN"), which Python's ``float`` and pandas read back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import orjson
import pyarrow as pa

from service.graph import json_floats
from service.storage.graph_rows import CODE_KINDS, CODE_OPS, kinds_and_ops
from service.storage.result_blocks import ResultBlock

from .answers import node_items

ARROW = "application/vnd.apache.arrow.stream"
NDJSON = "application/x-ndjson"
CSV = "text/csv"
SUPPORTED = (NDJSON, ARROW, CSV)  # in this order: ``*/*`` and no Accept get NDJSON

NUMBER_COLUMNS = ("value", "grad")
TANGENT_COLUMNS = ("tangent", "grad_tangent")  # present for a job with a direction


PIECE_NUMBERS = 1 << 15  # text formats encode a block this many numbers at a time: Python objects are large


class Encoder(Protocol):
    def block(self, block: ResultBlock) -> Iterator[bytes]: ...

    def end(self) -> bytes: ...


def _pieces(block: ResultBlock) -> Iterator[ResultBlock]:
    """A block in runs of about PIECE_NUMBERS numbers, so that text is built a little at a time."""
    step = max(1, PIECE_NUMBERS // block.results.values.shape[1])
    for a in range(0, len(block.ids), step):
        b = a + step
        yield ResultBlock(block.start + a, block.ids[a:b], block.codes[a:b], block.results.take(slice(a, b)))


def encoder(media_type: str, batched: bool, batch_size: int, directed: bool) -> Encoder:
    """The encoder of one answer in ``media_type`` (one of SUPPORTED)."""
    columns = NUMBER_COLUMNS + (TANGENT_COLUMNS if directed else ())
    if media_type == ARROW:
        return ArrowEncoder(columns, batched, batch_size)
    if media_type == CSV:
        return CsvEncoder(columns, batched)
    return NdjsonEncoder(batched)


def _numbers(block: ResultBlock) -> dict[str, np.ndarray]:
    r = block.results
    return {"value": r.values, "grad": r.grads, "tangent": r.tangents, "grad_tangent": r.grad_tangents}


class _Sink:
    """A file for pyarrow's writer that hands over what was written since the last ``take``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


_KIND_NAMES = pa.array(CODE_KINDS, type=pa.string())
_OP_NAMES = pa.array(CODE_OPS, type=pa.string())


class ArrowEncoder:
    """Record batches of columns id, kind, op, value, grad (and tangents): float64, or fixed_size_list for a batch."""

    def __init__(self, columns: tuple[str, ...], batched: bool, batch_size: int) -> None:
        number = pa.list_(pa.float64(), batch_size) if batched else pa.float64()
        fields = [pa.field("id", pa.string(), nullable=False), pa.field("kind", pa.string(), nullable=False)]
        fields += [pa.field("op", pa.string())] + [pa.field(name, number, nullable=False) for name in columns]
        self.schema = pa.schema(fields)
        self.columns, self.batched = columns, batched
        self.sink = _Sink()
        self.writer = pa.ipc.new_stream(self.sink, self.schema)

    def block(self, block: ResultBlock) -> Iterator[bytes]:
        codes = pa.array(block.codes)
        arrays = [pa.array(block.ids, type=pa.string()), _KIND_NAMES.take(codes), _OP_NAMES.take(codes)]
        numbers = _numbers(block)
        arrays += [self._column(numbers[name]) for name in self.columns]
        self.writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        yield self.sink.take()

    def _column(self, numbers: np.ndarray) -> pa.Array:
        if not self.batched:
            return pa.array(numbers[:, 0])
        return pa.FixedSizeListArray.from_arrays(pa.array(numbers.reshape(-1)), numbers.shape[1])

    def end(self) -> bytes:
        self.writer.close()
        return self.sink.take()


class NdjsonEncoder:
    """One ``/nodes`` item per line."""

    def __init__(self, batched: bool) -> None:
        self.batched = batched

    def block(self, block: ResultBlock) -> Iterator[bytes]:
        for piece in _pieces(block):
            items = node_items(piece.ids, kinds_and_ops(piece.codes), piece.results, self.batched)
            yield b"".join(orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE) for item in items)

    def end(self) -> bytes:
        return b""


class CsvEncoder:
    """``id,kind,op,value,grad``; for a batch ``id,kind,op,item,value,grad``, a row per node and assignment."""

    def __init__(self, columns: tuple[str, ...], batched: bool) -> None:
        self.columns, self.batched = columns, batched
        self.header = ",".join(("id", "kind", "op", *(("item",) if batched else ()), *columns)) + "\r\n"

    def block(self, block: ResultBlock) -> Iterator[bytes]:
        for piece in _pieces(block):
            yield self._piece(piece)

    def _piece(self, block: ResultBlock) -> bytes:
        out = io.StringIO()
        if block.start == 0:
            out.write(self.header)
        writer = csv.writer(out)
        numbers = _numbers(block)
        cells = [json_floats(numbers[name]) for name in self.columns]
        for i, (kind, op) in enumerate(kinds_and_ops(block.codes)):
            head = (block.ids[i], kind, op or "")
            rows = zip(*(column[i] for column in cells), strict=True)
            if self.batched:
                writer.writerows((*head, item, *row) for item, row in enumerate(rows))
            else:
                writer.writerow((*head, *next(rows)))
        return out.getvalue().encode()

    def end(self) -> bytes:
        return b""
