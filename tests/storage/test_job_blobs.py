"""How a job's numbers are stored: inputs, output values and the gradient check, exactly, old formats included."""

import io
import math

import numpy as np
import orjson
import pytest

from service.graph import JobInputs
from service.graph.gradcheck import GradientCheck
from service.storage.job_blobs import (
    check_from_text,
    check_to_text,
    inputs_batch_size,
    inputs_from_bytes,
    inputs_to_bytes,
    outputs_from_row,
    outputs_to_bytes,
)


@pytest.mark.parametrize("shape", [(3, 1), (5, 7), (1, 1000)])
def test_inputs_round_trip_exactly(shape):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(shape)
    values[0, 0] = -0.0
    grads = rng.standard_normal((2, shape[1]))
    got_values, got_grads, got_tangents = inputs_from_bytes(inputs_to_bytes(JobInputs(values, grads, shape[1] > 1)))
    assert got_values.tobytes() == values.tobytes() and got_grads.tobytes() == grads.tobytes()
    assert got_tangents is None


@pytest.mark.parametrize("shape", [(3, 1), (5, 7)])
def test_inputs_with_a_direction_round_trip_exactly(shape):
    rng = np.random.default_rng(1)
    values, grads, tangents = rng.standard_normal(shape), rng.standard_normal((2, shape[1])), rng.standard_normal(shape)
    tangents[-1, -1] = -0.0
    blob = inputs_to_bytes(JobInputs(values, grads, shape[1] > 1, tangents))
    got_values, got_grads, got_tangents = inputs_from_bytes(blob)
    assert got_values.tobytes() == values.tobytes() and got_grads.tobytes() == grads.tobytes()
    assert got_tangents.tobytes() == tangents.tobytes()
    assert inputs_batch_size(blob) == shape[1]


def test_inputs_stored_as_npz_by_earlier_versions_still_load():
    values, grads = np.array([[-2.0], [5.0], [-4.0]]), np.array([[1.0]])
    buffer = io.BytesIO()
    np.savez(buffer, values=values, output_grads=grads)
    got_values, got_grads, got_tangents = inputs_from_bytes(buffer.getvalue())
    assert np.array_equal(got_values, values) and np.array_equal(got_grads, grads) and got_tangents is None


def test_unknown_inputs_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        inputs_from_bytes(b"XXXX" + bytes(12))


@pytest.mark.parametrize("shape", [(1, 1), (3, 4)])
def test_inputs_batch_size_is_read_from_the_header(shape):
    blob = inputs_to_bytes(JobInputs(np.ones(shape), np.ones((1, shape[1])), shape[1] > 1))
    assert inputs_batch_size(blob) == shape[1]


def test_output_values_round_trip_exactly_with_non_finite_numbers():
    values = np.array([[1.5, -np.inf], [np.nan, -0.0]])
    got = outputs_from_row(outputs_to_bytes(values), None, ["f", "g"])
    assert list(got) == ["f", "g"]
    assert got["f"].tobytes() == values[0].tobytes() and got["g"].tobytes() == values[1].tobytes()


def test_outputs_stored_as_json_text_by_earlier_versions_still_load():
    got = outputs_from_row(None, orjson.dumps({"f": -12.0, "g": "-Infinity"}).decode(), ["f", "g"])
    assert got["f"].tolist() == [-12.0] and got["g"].tolist() == [-math.inf]
    batch = outputs_from_row(None, '{"f": [1.0, "NaN"]}', ["f"])
    assert batch["f"][0] == 1.0 and math.isnan(batch["f"][1])
    assert outputs_from_row(None, None, ["f"]) is None


def test_gradient_check_round_trips_with_non_finite_errors():
    check = GradientCheck(inputs_checked=3, columns_checked=1, max_abs_error=math.inf, max_rel_error=math.nan, node="x")
    text = check_to_text(check)
    assert orjson.loads(text)["max_abs_error"] == "Infinity"
    back = check_from_text(text)
    assert back.max_abs_error == math.inf and math.isnan(back.max_rel_error) and back.node == "x"
    assert check_from_text(None) is None and check_to_text(None) is None
