"""Each way a job's inputs can be invalid, as its own test, and what valid ones become."""

import json

import pytest

from service.graph import InvalidInput, Limits, bind_inputs, load_graph, loads

PLAN = load_graph({"inputs": ["x", "y"], "gates": [{"id": "f", "op": "mul", "inputs": ["x", "y"]}]})


def problems(inputs, output_grads=None, **kwargs):
    with pytest.raises(InvalidInput) as info:
        bind_inputs(PLAN, inputs, output_grads, **kwargs)
    return [(p.path, p.message) for p in info.value.problems]


def only(path, fragment, *args, **kwargs):
    found = problems(*args, **kwargs)
    assert len(found) == 1 and found[0][0] == path and fragment in found[0][1], found


def test_scalar_inputs_become_one_column():
    bound = bind_inputs(PLAN, {"y": 3, "x": 2.5})
    assert bound.values.tolist() == [[2.5], [3.0]] and not bound.batched
    assert bound.output_grads.tolist() == [[1.0]]


def test_batch_inputs_become_columns():
    bound = bind_inputs(PLAN, {"x": [1, 2, 3], "y": [4, 5, 6]}, {"f": [1, 0, 2]})
    assert bound.values.tolist() == [[1, 2, 3], [4, 5, 6]] and bound.batch_size == 3
    assert bound.output_grads.tolist() == [[1, 0, 2]]


def test_inputs_must_be_an_object():
    only("inputs", "must be an object", [1, 2])


def test_missing_input():
    only("inputs", "missing 1 input(s) of the graph: 'y'", {"x": 1})


def test_unknown_input():
    only("inputs.z", "not an input", {"x": 1, "y": 2, "z": 3})


def test_boolean_is_not_a_number():
    only("inputs.x", "boolean", {"x": True, "y": 2})


def test_number_as_string_is_refused():
    only("inputs.y", "string '2'", {"x": 1, "y": "2"})


def test_overflowing_number_is_refused():
    only("inputs.x", "finite", loads('{"x": 1e400, "y": 1}'))


def test_huge_integer_is_refused():
    only("inputs.x", "finite", json.loads('{"x": ' + "9" * 400 + ', "y": 1}'))


def test_null_is_refused():
    only("inputs.x", "null", {"x": None, "y": 1})


def test_mixed_numbers_and_arrays():
    only("inputs", "not a mix", {"x": [1, 2], "y": 1})


def test_arrays_of_different_lengths():
    only("inputs", "same length", {"x": [1, 2], "y": [1]})


def test_empty_arrays():
    only("inputs", "at least one value", {"x": [], "y": []})


def test_bad_item_in_a_batch_is_named():
    only("inputs.y[1]", "boolean", {"x": [1, 2], "y": [1, False]})


def test_nested_array_in_a_batch():
    only("inputs.x[0]", "array", {"x": [[1], 2], "y": [1, 2]})


def test_output_grads_unknown_output():
    only("output_grads.x", "not an output", {"x": 1, "y": 2}, {"x": 1})


def test_output_grads_must_be_finite():
    only("output_grads.f", "finite", {"x": 1, "y": 2}, loads('{"f": -1e999}'))


def test_output_grads_array_in_scalar_job():
    only("output_grads.f", "must be a number", {"x": 1, "y": 2}, {"f": [1]})


def test_output_grads_array_of_the_wrong_length():
    only("output_grads.f", "batch size is 2", {"x": [1, 2], "y": [1, 2]}, {"f": [1, 2, 3]})


def test_output_grads_must_be_an_object():
    only("output_grads", "must be an object", {"x": 1, "y": 2}, [1])


def test_batch_limit_is_named():
    only("inputs", "max_batch=2", {"x": [1, 2, 3], "y": [1, 2, 3]}, limits=Limits(max_batch=2))


def test_cells_limit_is_named():
    only("inputs", "3 x 2 = 6 is over the limit max_cells=5", {"x": [1, 2], "y": [1, 2]}, limits=Limits(max_cells=5))


def test_all_name_problems_together():
    found = problems({"x": 1, "z": 3, "w": 4})
    assert [p for p, _ in found] == ["inputs.z", "inputs.w", "inputs"]
