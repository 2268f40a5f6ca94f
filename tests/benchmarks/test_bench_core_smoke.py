"""Smoke test of the graph-core benchmark: it runs, prints its table, and times correct results.

No wall-clock assertions: timings on a shared machine are not test material.
"""

import io

import numpy as np
import pytest

from tests.benchmarks import bench_core

GRAPHS = [f"{shape} {arity}" for shape in bench_core.SHAPES for arity in bench_core.ARITIES]


def test_smallest_run_prints_the_table_and_agrees_with_the_python_baseline():
    out = io.StringIO()
    report = bench_core.main(["--sizes", "1e3", "--batches", "1,64", "--no-progress"], out=out, keep=True)

    text = out.getvalue()
    assert text.strip() == report.text.strip()
    assert "targets" in text and "eval/floor" in text and "speedup" in text and "dir/eval" in text
    # one row per graph and batch size, each printed
    assert [(r.graph, r.gates, r.batch) for r in report.rows] == [(g, 1000, b) for g in GRAPHS for b in (1, 64)]
    table_lines = [line.split() for line in text.splitlines()]
    for graph in GRAPHS:
        shape, arity = graph.split()
        for batch in ("1", "64"):
            assert [shape, arity, "10^3", batch] in [line[:4] for line in table_lines]
    for row in report.rows:
        assert row.ok == "yes"
        assert row.eval_ns > 0 and row.kern_ns > 0 and row.floor_ns > 0 and row.mem_mib > 0 and row.tm_mib > 0
        assert row.dir_ns > 0 and row.dir_ratio > 0
        if row.batch == 1:
            assert row.json_ns > 0 and row.orjson_ns > 0 and row.load_ns > 0 and row.py_ns > 0 and row.speedup > 0
            assert row.gather_ns > 0 and row.gather_ratio > 0 and row.efloor_ns is None
            if row.graph.endswith(" 2") and bench_core.micrograd_value_class() is not None:
                assert row.mg_ns > 0 and row.mg_ratio > 0  # NaN if micrograd disagreed with the baseline
        else:
            assert row.efloor_ns > row.floor_ns and row.gather_ns is None
    # every timed evaluation (its first column) against the plain-Python loop
    assert len(report.checks) == len(report.rows)
    for check in report.checks:
        assert np.allclose(check.engine_values, check.python_values), check.label
        assert np.allclose(check.engine_grads, check.python_grads), check.label
        assert np.isfinite(check.engine_values).all() and np.isfinite(check.engine_grads).all(), check.label
    # targets are listed, unmeasured at this size, never failing the run
    assert len(report.targets) == 34 and all(t.verdict == "n/a" for t in report.targets)


def test_python_baseline_matches_hand_derived_gradients():
    plan = bench_core.load_graph(
        {
            "inputs": ["x", "y", "z"],
            "constants": {"k": 2.0},
            "gates": [
                {"id": "s", "op": "add", "inputs": ["x", "y", "x"]},
                {"id": "p", "op": "mul", "inputs": ["s", "z", "k"]},
                {"id": "q", "op": "mul", "inputs": ["x", "x"]},
            ],
        }
    )
    values, grads = bench_core.python_forward_backward(plan, [1.0, 2.0, 3.0])
    ids = plan.ids
    v = dict(zip(ids, values, strict=True))
    g = dict(zip(ids, grads, strict=True))
    assert v["s"] == 4 and v["p"] == 24 and v["q"] == 1
    # L = p + q = (2x + y) * z * k + x^2
    assert g["x"] == 2 * 3 * 2 + 2 * 1 and g["y"] == 3 * 2 and g["z"] == 4 * 2 and g["k"] == 4 * 3


def test_micrograd_baseline_matches_the_python_baseline():
    value_class = bench_core.micrograd_value_class()
    if value_class is None:
        pytest.skip("micrograd is not installed (a benchmark-only baseline)")
    plan = bench_core.load_graph(bench_core.make_definition("wide", "2", 300))
    inputs = np.linspace(0.9, 1.1, plan.n_inputs).tolist()
    ops, _, args, _, first_gate, leaves, outputs = bench_core.python_lists(plan, inputs)
    nodes = bench_core.micrograd_loops(value_class, ops, args, first_gate, leaves, outputs)
    values, grads = bench_core.python_forward_backward(plan, inputs)
    assert np.allclose([v.data for v in nodes], values, rtol=1e-12)
    assert np.allclose([v.grad for v in nodes], grads, rtol=1e-12)


def test_edge_rows_count_what_each_pass_must_touch():
    plan = bench_core.load_graph(
        {
            "inputs": ["x", "y"],
            "gates": [
                {"id": "s", "op": "add", "inputs": ["x", "y", "x"]},
                {"id": "p", "op": "mul", "inputs": ["s", "y"]},
            ],
        }
    )
    # G = 2, E = 5, E_r = 2 (the mul's inputs)
    assert bench_core.edge_rows(plan) == 2 * 2 + 3 * 5 + 2


def test_generated_graphs_are_valid_and_shaped_as_described():
    for graph in GRAPHS:
        shape, arity = graph.split()
        definition = bench_core.make_definition(shape, arity, 500)
        plan = bench_core.load_graph(definition)
        lo, hi = bench_core.ARITIES[arity]
        widths = np.diff(plan.ptr)
        assert widths.min() >= lo and widths.max() <= hi
        assert (plan.order == np.arange(plan.n_gates)).all()  # listed in topological order
        if shape == "deep":
            # gate g reads gate g-1 first
            assert (plan.sources[plan.ptr[1:-1]] == plan.first_gate + np.arange(plan.n_gates - 1)).all()
