"""JSON numbers in and out: finite checks, and non-finite results written as strings."""

import math

import numpy as np
import orjson

from service.graph import json_float, json_floats
from service.graph.numbers import finite_floats, number_problem


def test_non_finite_floats_are_written_as_protobuf_strings():
    assert [json_float(x) for x in (math.inf, -math.inf, math.nan, 1.5)] == ["Infinity", "-Infinity", "NaN", 1.5]


def test_arrays_with_non_finite_values_stay_valid_json():
    out = json_floats(np.array([[1.0, math.inf], [math.nan, -2.0]]))
    assert out == [[1.0, "Infinity"], ["NaN", -2.0]]
    assert orjson.loads(orjson.dumps(out)) == out


def test_finite_arrays_are_plain_lists():
    assert json_floats(np.array([1.0, 2.0])) == [1.0, 2.0]


def test_number_problem_accepts_ints_and_floats_only():
    assert number_problem(3) is None and number_problem(-2.5) is None
    assert "boolean" in number_problem(False)
    assert "finite" in number_problem(10**400)


def test_finite_floats_refuses_booleans_hidden_in_lists():
    assert finite_floats([1, True]) is None
    assert finite_floats([1, 2.5]).tolist() == [1.0, 2.5]
