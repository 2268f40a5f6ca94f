"""The CLI's node files: the CSV columns for single assignments and batches, with and without a direction."""

from __future__ import annotations

import io
import json

from service.cli_files import read_inputs, write_nodes


def _csv(items) -> list[str]:
    out = io.StringIO()
    write_nodes(items, "csv", out)
    return out.getvalue().splitlines()


def test_a_batch_with_a_direction_has_a_row_per_item_and_the_tangent_columns():
    items = [
        {
            "id": "x",
            "kind": "input",
            "value": [1.0, 2.0],
            "grad": [3.0, 4.0],
            "tangent": [1.0, 0.0],
            "grad_tangent": [5.0, "NaN"],
        },
        {
            "id": "f",
            "kind": "gate",
            "op": "mul",
            "value": [6.0, 7.0],
            "grad": [1.0, 1.0],
            "tangent": [2.0, 3.0],
            "grad_tangent": [0.0, 0.0],
        },
    ]
    assert _csv(items) == [
        "id,kind,op,item,value,grad,tangent,grad_tangent",
        "x,input,,0,1.0,3.0,1.0,5.0",
        "x,input,,1,2.0,4.0,0.0,NaN",
        "f,gate,mul,0,6.0,1.0,2.0,0.0",
        "f,gate,mul,1,7.0,1.0,3.0,0.0",
    ]


def test_a_job_without_a_direction_keeps_its_columns():
    assert _csv([{"id": "x", "kind": "input", "value": 1.0, "grad": 2.0}]) == [
        "id,kind,op,item,value,grad",
        "x,input,,,1.0,2.0",
    ]


def test_an_inputs_file_may_carry_a_direction(tmp_path):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"inputs": {"x": 1}, "output_grads": {"f": 2}, "tangents": {"x": 1}}))
    assert read_inputs(path) == ({"x": 1}, {"f": 2}, {"x": 1})
    path.write_text(json.dumps({"x": 1}))
    assert read_inputs(path) == ({"x": 1}, None, None)
