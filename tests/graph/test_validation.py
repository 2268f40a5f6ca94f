"""Each way a graph definition can be invalid, as its own test: the path and the message."""

import json

import pytest

from service.graph import InvalidInput, Limits, load_graph, loads
from service.graph.numbers import MalformedJSON

OK = {"inputs": ["x", "y"], "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}]}


def problems(definition, **kwargs):
    with pytest.raises(InvalidInput) as info:
        load_graph(definition, **kwargs)
    return [(p.path, p.message) for p in info.value.problems]


def with_(**changes):
    return {**OK, **changes}


def only(definition, path, fragment, **kwargs):
    found = problems(definition, **kwargs)
    assert len(found) == 1, found
    assert found[0][0] == path and fragment in found[0][1], found


def test_valid_definition_loads():
    plan = load_graph(OK)
    assert plan.ids == ["x", "y", "q"] and plan.output_ids == ["q"]


def test_definition_must_be_an_object():
    only([OK], "", "must be a JSON object")


def test_inputs_required():
    only({"gates": OK["gates"]}, "inputs", "required")


def test_gates_required():
    only({"inputs": ["x"]}, "gates", "required")


def test_gates_must_not_be_empty():
    only(with_(gates=[]), "gates", "at least one gate")


def test_unknown_top_level_field():
    only(with_(output=["q"]), "output", "Unknown field")


def test_name_too_long():
    only(with_(name="n" * 201), "name", "200")


def test_name_must_be_text():
    only(with_(name=5), "name", "string")


def test_input_id_with_a_bad_character():
    only(with_(inputs=["x", "y/z"]), "inputs[1]", "'/' is not allowed")


def test_input_id_too_long():
    only(with_(inputs=["x", "y" * 129]), "inputs[1]", "limit is 128")


def test_input_id_empty():
    only(with_(inputs=["x", ""]), "inputs[1]", "empty")


def test_input_id_not_a_string():
    only(with_(inputs=["x", 3]), "inputs[1]", "not a number")


def test_inputs_not_a_list():
    only(with_(inputs="x"), "inputs", "array of node ids")


def test_duplicate_id_across_kinds():
    only(with_(constants={"x": 1}), "constants.x", "duplicate id 'x' (already used at inputs[0])")


def test_duplicate_gate_id():
    gates = OK["gates"] + [{"id": "q", "op": "mul", "inputs": ["x", "y"]}]
    only(with_(gates=gates), "gates[1].id", "duplicate id 'q'")


def test_constant_must_be_a_number():
    only(with_(constants={"c": "2"}), "constants.c", "not the string '2'")


def test_constant_boolean_is_not_a_number():
    only(with_(constants={"c": True}), "constants.c", "boolean")


def test_constant_overflowing_to_infinity_is_refused():
    definition = loads(json.dumps(OK)[:-1] + ', "constants": {"c": 1e400}}')
    only(definition, "constants.c", "finite")


def test_constant_id_checked():
    only(with_(constants={"a b": 1}), "constants.a b", "' ' is not allowed")


def test_gate_must_be_an_object():
    only(with_(gates=[["q", "add"]]), "gates[0]", "gate object")


def test_gate_op_unknown():
    only(with_(gates=[{"id": "q", "op": "sub", "inputs": ["x", "y"]}]), "gates[0].op", "'add' or 'mul'")


def test_gate_needs_two_inputs():
    only(with_(gates=[{"id": "q", "op": "add", "inputs": ["x"]}]), "gates[0].inputs", "two or more")


def test_gate_inputs_must_be_a_list():
    only(with_(gates=[{"id": "q", "op": "add", "inputs": "xy"}]), "gates[0].inputs", "array of node ids")


def test_gate_missing_field():
    only(with_(gates=[{"id": "q", "inputs": ["x", "y"]}]), "gates[0].op", "required")


def test_gate_unknown_field():
    only(with_(gates=[{"id": "q", "op": "add", "inputs": ["x", "y"], "label": "s"}]), "gates[0].label", "unknown field")


def test_gate_input_not_a_string():
    only(with_(gates=[{"id": "q", "op": "add", "inputs": ["x", 1.5]}]), "gates[0].inputs[1]", "not a number")


def test_unknown_node_named_with_its_path():
    gates = OK["gates"] + [{"id": "f", "op": "mul", "inputs": ["q", "w"]}]
    only(with_(gates=gates), "gates[1].inputs[1]", "unknown node 'w'")


def test_cycle_is_named_by_its_ids():
    gates = [
        {"id": "a", "op": "add", "inputs": ["x", "c"]},
        {"id": "b", "op": "mul", "inputs": ["a", "y"]},
        {"id": "c", "op": "add", "inputs": ["b", "y"]},
    ]
    only(with_(gates=gates), "gates[0]", "cycle: a -> b -> c -> a")


def test_self_loop_is_a_cycle():
    only(with_(gates=[{"id": "q", "op": "add", "inputs": ["x", "q"]}]), "gates[0]", "cycle: q -> q")


def test_long_cycle_is_found_without_recursion():
    n = 100_000
    gates = [{"id": f"g{i}", "op": "add", "inputs": [f"g{(i + 1) % n}", "x"]} for i in range(n)]
    found = problems(with_(gates=gates))
    assert len(found) == 1 and found[0][1].startswith("the graph has a cycle: g0 -> g99999 -> g99998")


def test_unknown_output():
    only(with_(outputs=["zz"]), "outputs[0]", "unknown node 'zz'")


def test_output_listed_twice():
    only(with_(outputs=["q", "q"]), "outputs[1]", "listed twice")


def test_empty_outputs():
    only(with_(outputs=[]), "outputs", "at least one")


def test_all_structural_errors_are_reported_together():
    definition = {
        "inputs": ["x", "bad id"],
        "constants": {"c": False},
        "gates": [{"id": "q", "op": "pow", "inputs": ["x"]}, {"id": "r", "op": "add", "inputs": "x"}],
        "extra": 1,
    }
    paths = [p for p, _ in problems(definition)]
    assert paths == ["inputs[1]", "constants.c", "gates[0].op", "gates[0].inputs", "gates[1].inputs", "extra"]


def test_all_reference_errors_are_reported_together():
    definition = {
        "inputs": ["x", "x"],
        "gates": [{"id": "q", "op": "add", "inputs": ["x", "w"]}, {"id": "r", "op": "add", "inputs": ["v", "q"]}],
        "outputs": ["nope"],
    }
    paths = [p for p, _ in problems(definition)]
    assert paths == ["inputs[1]", "gates[0].inputs[1]", "gates[1].inputs[0]", "outputs[0]"]


def test_limit_on_gates_is_named():
    only(OK, "gates", "max_gates=0", limits=Limits(max_gates=0))


def test_limit_on_gate_inputs_is_named():
    only(OK, "gates[0].inputs", "max_gate_inputs=1", limits=Limits(max_gate_inputs=1))


def test_limit_on_inputs_and_constants_is_named():
    only(OK, "inputs", "max_leaves=1", limits=Limits(max_leaves=1))


def test_malformed_json_is_not_a_validation_error():
    with pytest.raises(MalformedJSON):
        loads(b'{"inputs": [')


def test_bare_nan_is_malformed_json():
    with pytest.raises(MalformedJSON):
        loads(b'{"c": NaN}')


def test_validation_of_a_million_gates_is_a_linear_sweep():
    # A million gates listed out of order: quadratic checks would not finish in the test timeout.
    n = 1_000_000
    gates = [{"id": f"g{i}", "op": "mul" if i % 2 else "add", "inputs": [f"g{i + 1}", "x"]} for i in range(n - 1)]
    gates.append({"id": f"g{n - 1}", "op": "add", "inputs": ["x", "y"]})
    plan = load_graph(with_(gates=gates))
    assert plan.n_gates == n and plan.order[0] == n - 1 and plan.output_ids == ["g0"]


def test_schema_problems_and_unknown_references_come_in_one_answer():
    definition = {
        "inputs": ["x"],
        "gates": [
            {"id": "g", "op": "pow", "inputs": ["x", "w"]},
            {"id": "h", "op": "add", "inputs": ["g", "v"], "colour": "red"},
        ],
        "outputs": ["nope"],
    }
    with pytest.raises(InvalidInput) as caught:
        load_graph(definition)
    assert {(p.path, p.message) for p in caught.value.problems} == {
        ("gates[0].op", "must be 'add' or 'mul', not 'pow'"),
        ("gates[0].inputs[1]", "unknown node 'w'"),
        ("gates[1].colour", "unknown field"),
        ("gates[1].inputs[1]", "unknown node 'v'"),
        ("outputs[0]", "unknown node 'nope'"),
    }


def test_references_are_not_judged_when_the_ids_cannot_all_be_read():
    with pytest.raises(InvalidInput) as caught:
        load_graph({"inputs": "x", "gates": [{"id": "g", "op": "add", "inputs": ["x", "y"]}]})
    assert [p.path for p in caught.value.problems] == ["inputs"]
