"""How a job's numbers are stored in its row: inputs, output values, and the gradient check report.

- Inputs (``jobs.inputs``): the input matrix and the output gradients as raw little-endian
  float64 behind a 16-byte header (``GGI1``, input rows, output-gradient rows, batch size);
  a job with a direction appends its tangent matrix (as many rows as inputs) and says so
  with the magic ``GGT1``. Not ``np.savez``: parsing a .npz costs more than a small job's whole
  computation; rows written before this format (``.npz``, which starts ``PK``) still load.
- Output values (``jobs.output_values``): the same format, the output rows of the values and no
  gradient rows; the ids are the graph's outputs, in order. Rows written before migration 0003
  hold a JSON object of id -> value in ``jobs.outputs`` instead; they still load.
- The gradient check (``jobs.gradient_check``): a JSON object of ``GradientCheck``'s fields, with
  non-finite numbers as ``"Infinity"``, ``"-Infinity"``, ``"NaN"`` (JSON has no others).

Storage writes and reads numbers; the API decides how an answer shows them.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
import orjson

from service.graph import JobInputs, json_float
from service.graph.gradcheck import GradientCheck

_MAGIC = b"GGI1"
_MAGIC_WITH_TANGENTS = b"GGT1"  # a third matrix follows, shaped as the first
_HEADER = struct.Struct("<4sIII")  # magic, first rows, second rows, batch size


def _matrices_to_bytes(first: np.ndarray, second: np.ndarray, third: np.ndarray | None = None) -> bytes:
    first = np.ascontiguousarray(first, dtype="<f8")
    second = np.ascontiguousarray(second, dtype="<f8").reshape(-1, first.shape[1])
    magic = _MAGIC if third is None else _MAGIC_WITH_TANGENTS
    header = _HEADER.pack(magic, first.shape[0], second.shape[0], first.shape[1])
    tail = b"" if third is None else np.ascontiguousarray(third, dtype="<f8").reshape(first.shape).tobytes()
    return header + first.tobytes() + second.tobytes() + tail


def _matrices_from_bytes(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    magic, n_first, n_second, batch_size = _HEADER.unpack_from(blob)
    if magic not in (_MAGIC, _MAGIC_WITH_TANGENTS):
        raise ValueError("job numbers in an unknown format")
    n_third = n_first if magic == _MAGIC_WITH_TANGENTS else 0
    numbers = np.frombuffer(blob, dtype="<f8", offset=_HEADER.size).reshape(n_first + n_second + n_third, batch_size)
    third = numbers[n_first + n_second :] if n_third else None
    return numbers[:n_first], numbers[n_first : n_first + n_second], third


def _is_npz(blob: bytes) -> bool:
    return blob[:2] == b"PK"


def inputs_to_bytes(bound: JobInputs) -> bytes:
    """A job's input matrix (n_inputs, batch_size), output gradients (n_outputs, batch_size) and direction, if any."""
    return _matrices_to_bytes(bound.values, bound.output_grads, bound.tangents)


def inputs_from_bytes(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(input matrix, output gradients, tangents or None) of stored inputs.

    :raise ValueError: not a format written here.
    """
    if _is_npz(blob):
        with np.load(io.BytesIO(blob)) as arrays:
            return arrays["values"], arrays["output_grads"], None
    return _matrices_from_bytes(blob)


def inputs_batch_size(blob: bytes) -> int:
    """The batch size of stored inputs, read from the header alone."""
    if _is_npz(blob):
        return int(inputs_from_bytes(blob)[0].shape[1])
    return _HEADER.unpack_from(blob)[3]


def outputs_to_bytes(output_values: np.ndarray) -> bytes:
    """The values of a job's outputs, shape (n_outputs, batch_size)."""
    return _matrices_to_bytes(output_values, np.empty((0, output_values.shape[1])))


def outputs_from_row(
    output_values: bytes | None, legacy_outputs: str | None, ids: list[str]
) -> dict[str, np.ndarray] | None:
    """Output id -> its values (shape (batch_size,)), or None before the job succeeded."""
    if output_values is not None:
        rows = _matrices_from_bytes(output_values)[0]
        return dict(zip(ids, rows, strict=True))
    if legacy_outputs is None:
        return None
    return {
        name: np.atleast_1d(np.array(value, dtype=object).astype(np.float64))
        for name, value in orjson.loads(legacy_outputs).items()
    }


def check_to_text(check: GradientCheck | None) -> str | None:
    if check is None:
        return None
    return orjson.dumps({k: json_float(v) if isinstance(v, float) else v for k, v in check.as_dict().items()}).decode()


def check_from_text(text: str | None) -> GradientCheck | None:
    if text is None:
        return None
    fields: dict[str, Any] = orjson.loads(text)
    for name in ("max_abs_error", "max_rel_error"):
        fields[name] = float(fields[name])  # float() reads "Infinity", "-Infinity" and "NaN" too
    return GradientCheck(**fields)
