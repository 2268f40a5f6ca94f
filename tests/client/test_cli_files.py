"""The CLI's input files (results are /results answers, tested in tests/api/test_results.py)."""

from __future__ import annotations

import json

from service.cli_files import read_inputs


def test_an_inputs_file_may_carry_a_direction(tmp_path):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"inputs": {"x": 1}, "output_grads": {"f": 2}, "tangents": {"x": 1}}))
    assert read_inputs(path) == ({"x": 1}, {"f": 2}, {"x": 1})
    path.write_text(json.dumps({"x": 1}))
    assert read_inputs(path) == ({"x": 1}, None, None)
