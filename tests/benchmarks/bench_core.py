"""Benchmark of the pure graph core: parse, validate+compile, forward+backward, memory.

    python -m tests.benchmarks.bench_core                  # 10^4, 10^5, 10^6 gates (~5 min CPU, 3.8 GiB)
    python -m tests.benchmarks.bench_core --quick          # 10^4 and 10^5 gates (~25 s CPU)
    python -m tests.benchmarks.bench_core --sizes 1e4,1e5 --batches 1,64

Four kinds of graph, each at every size (fixed seeds, so every run times the same graphs):

* ``wide``: a random DAG; each gate reads nodes drawn uniformly among every node before it
  (leaves and earlier gates), so reads are scattered over the whole value array. ``add``
  gates draw all their inputs so; ``mul`` gates draw two so and the rest among the leaves
  (products of several wide gates overflow float64 within a few levels).
* ``deep``: a chain; gate g reads gate g-1 and, for its other inputs, random leaves.

each with binary gates (``2``) or n-ary gates (``2-6``, arity uniform in 2..6), half add and
half mul. There are n/10 inputs and n/1000 constants; values are drawn from exp(U(-0.1, 0.1)),
in (0.905, 1.105) with mean log 0, so values and gradients stay finite and normal at 10^6
gates. Definitions are built as dicts and ``json.dumps``-ed, so parsing is timed on real text.

Each measurement is the least CPU time of the process (user + system) over several runs (at
least 3, 2 at 10^6 gates), after a warm-up. Parsing and ``load_graph`` are timed with the
garbage collector paused (the cost of the code itself), and once more called with it on (the
graphs table: raw parsers, and ``loads()`` / ``load_graph()`` as the service calls them).
Every evaluation is checked against the Python baseline (column ``ok``). Each is timed
again along a random direction (``dir``: tangents and gradients' tangents as well, on the same
graph and inputs), whose values and gradients must equal the plain run's. The command exits 0
whether or not the targets are met: it is a benchmark, not a test; a missed target prints
MISS in the final block. ``BENCHMARKS.md`` explains every column.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import orjson
from numba import njit

from service.graph import Plan, engine, evaluate, load_graph, loads
from service.graph.dispatch import READS_OTHERS
from tests.benchmarks.report import commit, version
from tests.benchmarks.report import num as _num
from tests.benchmarks.report import table as _table

DEFAULT_SIZES = (10**4, 10**5, 10**6)
QUICK_SIZES = (10**4, 10**5)
DEFAULT_BATCHES = (1, 64, 1024)
SHAPES = ("wide", "deep")
ARITIES = {"2": (2, 2), "2-6": (2, 6)}
MAX_CELLS = 20_000_000  # nodes x B; the service's default Limits.max_cells
FLOOR_TARGET = (10**5, 1024)  # (gates, B) of the memory-floor target, run even above MAX_CELLS
DIRECTION_TARGETS = ((10**5, 1), (10**5, 64), (10**6, 1), (10**6, 64))  # (gates, B) of the tangents target
OVER_LIMIT_RUNS = {FLOOR_TARGET: "the floor target's", (10**6, 64): "the tangents target's"}  # run above MAX_CELLS
SEED = 20261126

# the targets, checked by ``_targets`` (issue #12's, and issue #14's for directions)
TARGET_LOAD_RATIO = 2.0  # load_graph / json.loads at 10^6 gates
TARGET_MEMORY_MIB = 60.0  # plan (ids included) + values + grads at 10^6 binary gates, B=1
TARGET_SPEEDUP = {"wide": 80.0, "deep": 40.0}  # Python loop / engine at 10^6 binary gates, B=1
TARGET_MICROGRAD = 1000.0  # micrograd / engine at 10^5 binary gates, B=1
MICROGRAD_MAX_GATES = 10**5  # above, micrograd's objects take minutes and gigabytes
TARGET_GATHER_RATIO = 2.0  # engine / gather floor at 10^5 gates, B=1
TARGET_FLOOR_RATIO = {"2": 3.0}  # engine / memory copy at 10^5 binary gates, B=1024
TARGET_EDGE_FLOOR_RATIO = {"2-6": 5.0}  # engine / edge floor at 10^5 n-ary gates, B=1024
TARGET_DIRECTION_RATIO = 2.5  # evaluate with tangents / without, at DIRECTION_TARGETS

MiB = 2**20

#: Timings are CPU time of this process (user + system, so page faults count): on a shared
#: machine, time spent descheduled behind other processes is not the code's. Single-threaded
#: code on an idle machine gives the same figures as wall time.
clock = time.process_time


# --------------------------------------------------------------------------- graphs


def make_definition(shape: str, arity: str, n_gates: int, seed: int = SEED) -> dict[str, Any]:
    """A graph definition dict (see the module docstring), listed in topological order."""
    lo, hi = ARITIES[arity]
    rng = np.random.default_rng([seed, SHAPES.index(shape), hi, n_gates])
    n_inputs = max(8, n_gates // 10)
    n_constants = max(2, n_gates // 1000)
    n_leaves = n_inputs + n_constants
    k = rng.integers(lo, hi + 1, n_gates)
    is_mul = rng.random(n_gates) < 0.5
    ptr = np.zeros(n_gates + 1, dtype=np.int64)
    np.cumsum(k, out=ptr[1:])
    gate = np.repeat(np.arange(n_gates), k)  # the gate of each edge
    slot = np.arange(ptr[-1]) - ptr[gate]  # the edge's position among its gate's inputs
    leaf = (rng.random(gate.size) * n_leaves).astype(np.int64)
    if shape == "wide":
        earlier = (rng.random(gate.size) * (n_leaves + gate)).astype(np.int64)
        src = np.where(~is_mul[gate] | (slot < 2), earlier, leaf)
    else:
        src = np.where((slot == 0) & (gate > 0), n_leaves + gate - 1, leaf)
    names = [f"x{i}" for i in range(n_inputs)] + [f"c{i}" for i in range(n_constants)]
    names += [f"g{i}" for i in range(n_gates)]
    refs = list(map(names.__getitem__, src.tolist()))
    ops = ["mul" if m else "add" for m in is_mul.tolist()]
    p = ptr.tolist()
    gates = [{"id": names[n_leaves + g], "op": ops[g], "inputs": refs[p[g] : p[g + 1]]} for g in range(n_gates)]
    constants = dict(zip(names[n_inputs:n_leaves], leaf_values(rng, n_constants).tolist(), strict=True))
    return {"inputs": names[:n_inputs], "constants": constants, "gates": gates}


def leaf_values(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """exp(U(-0.1, 0.1)): near 1, with E[log x] = 0 so long products neither overflow nor vanish."""
    return np.exp(rng.uniform(-0.1, 0.1, shape))


# --------------------------------------------------------------------------- the Python baseline


def python_forward_backward(plan: Plan, inputs: list[float]) -> tuple[list[float], list[float]]:
    """Values and gradients (all output grads 1) in plain Python over flat lists, one assignment.

    The same gate order and accumulation order as the kernels: fan-out accumulates one edge at
    a time, and a mul's input gradient is a prefix product times a suffix product.
    """
    return python_loops(*python_lists(plan, inputs))


def python_lists(plan: Plan, inputs: list[float]) -> tuple:
    """The plan as flat Python lists (made before timing the loops)."""
    leaves = inputs + plan.constants.tolist()
    lists = (plan.ops, plan.ptr, plan.sources, plan.order)
    return (*(a.tolist() for a in lists), len(leaves), leaves, plan.outputs.tolist())


def python_loops(ops, ptr, args, order, first_gate, leaves, outputs):
    """The forward then backward pass of ``python_forward_backward``."""
    vals = leaves + [0.0] * len(ops)
    for g in order:
        start = ptr[g]
        end = ptr[g + 1]
        if end - start == 2:
            a = vals[args[start]]
            b = vals[args[start + 1]]
            vals[first_gate + g] = a * b if ops[g] else a + b
        else:
            acc = vals[args[start]]
            if ops[g]:
                for k in range(start + 1, end):
                    acc *= vals[args[k]]
            else:
                for k in range(start + 1, end):
                    acc += vals[args[k]]
            vals[first_gate + g] = acc
    grads = [0.0] * len(vals)
    for o in outputs:
        grads[o] += 1.0
    scratch = [0.0] * 64
    for g in reversed(order):
        start = ptr[g]
        end = ptr[g + 1]
        up = grads[first_gate + g]
        if not ops[g]:
            for k in range(start, end):
                grads[args[k]] += up
        elif end - start == 2:
            a = args[start]
            b = args[start + 1]
            va = vals[a]
            vb = vals[b]
            grads[a] += up * vb
            grads[b] += up * va
        else:
            n = end - start
            if n > len(scratch):
                scratch = [0.0] * n
            prefix = up
            for k in range(start, end):
                scratch[k - start] = prefix
                prefix *= vals[args[k]]
            suffix = 1.0
            for k in range(end - 1, start - 1, -1):
                grads[args[k]] += scratch[k - start] * suffix
                suffix *= vals[args[k]]
    return vals, grads


# --------------------------------------------------------------------------- micrograd and the gather floor


def micrograd_value_class() -> type | None:
    """micrograd's ``Value`` (its PyPI package, a benchmark-only baseline), or None where it is not installed."""
    try:
        from micrograd.engine import Value
    except ImportError:
        return None
    return Value


def micrograd_loops(value_class: type, ops, args, first_gate, leaves, outputs):
    """Forward and backward of a binary plan as micrograd's users run it: a ``Value`` a node.

    The forward pass builds the graph (micrograd computes as it builds); ``Value.backward`` would
    order it with a recursive depth-first search, which overflows the stack on a deep chain, so
    its ``_backward`` closures are called last gate first, a reverse topological order here
    (gates are listed in topological order), after seeding every output, as L sums them.
    """
    nodes = [value_class(v) for v in leaves]
    for g, op in enumerate(ops):
        a = nodes[args[2 * g]]
        b = nodes[args[2 * g + 1]]
        nodes.append(a * b if op else a + b)
    for o in outputs:
        nodes[o].grad = 1.0
    for node in reversed(nodes[first_gate:]):
        node._backward()
    return nodes


@njit(nogil=True)
def gather_floor(bounds, index, table, out):  # pragma: no cover - compiled
    """One random 8-byte read per edge (``table[index[k]]``) and one write per node: what a pass must touch.

    Node i sums the edges ``bounds[i]:bounds[i + 1]`` (the edges spread evenly over the nodes).
    """
    for i in range(out.size):
        total = 0.0
        for k in range(bounds[i], bounds[i + 1]):
            total += table[index[k]]
        out[i] = total


def edge_rows(plan: Plan) -> int:
    """Rows of B numbers forward + backward must read or write at least: 2G + 3E + E_r.

    Forward: each edge's input row read (E), each gate's row written (G). Backward: each gate's
    gradient row read (G), each edge's gradient row read and written (2E), and the value rows of
    the inputs of gates whose partial reads the other inputs (``mul``: E_r edges).
    """
    arity = np.diff(plan.ptr)
    reads_others = READS_OTHERS[plan.ops]
    return 2 * plan.n_gates + 3 * int(plan.sources.size) + int(arity[reads_others].sum())


# --------------------------------------------------------------------------- timing


def best_time(
    fn: Callable[[], Any],
    *,
    min_runs: int = 3,
    max_runs: int = 25,
    budget: float = 0.5,
    setup: Callable[[], None] | None = None,
    gc_off: bool = False,
    collect: bool = True,
) -> float:
    """The least time (``clock``) of ``fn()`` over at least ``min_runs`` runs (2 if a run takes
    > 1 s), going on while under ``budget`` seconds of wall time and ``max_runs`` runs.

    With ``collect``, the garbage collector runs before the first run and, unless ``gc_off``,
    before each later run that follows a run of over 20 ms (one that may have churned enough
    objects to matter); a full collection costs tens of ms in a process that imported numba,
    more with a large graph in memory, so calls that leave no garbage (evaluation) pass
    ``collect=False``. With ``gc_off`` the collector is disabled during each timed call.
    Results are freed untimed.
    """
    best = math.inf
    started = time.perf_counter()
    runs = 0
    elapsed = math.inf
    while runs < max_runs:
        if setup is not None:
            setup()
        if collect and (runs == 0 or (not gc_off and elapsed > 0.02)):
            gc.collect()
        if gc_off:
            gc.disable()
        try:
            t0 = clock()
            result = fn()
            elapsed = clock() - t0
        finally:
            gc.enable()
        del result
        best = min(best, elapsed)
        runs += 1
        enough = min(2, min_runs) if best > 1.0 else min_runs
        if runs >= enough and time.perf_counter() - started >= budget:
            break
    return best


# --------------------------------------------------------------------------- rows and report


@dataclass
class Row:
    graph: str  # "wide 2", "deep 2-6"
    gates: int
    batch: int
    nodes: int
    json_ns: float | None = None  # per gate
    orjson_ns: float | None = None
    load_ns: float | None = None
    eval_ns: float | None = None  # per gate (B=1) or gate x item
    kern_ns: float | None = None
    py_ns: float | None = None  # per gate, B=1
    mg_ns: float | None = None  # micrograd, per gate, B=1, binary graphs up to MICROGRAD_MAX_GATES
    gather_ns: float | None = None  # the gather floor, per gate, B=1
    floor_ns: float | None = None
    efloor_ns: float | None = None  # the edge floor, per gate x item, B>1
    dir_ns: float | None = None  # evaluate with a direction: tangents and gradients' tangents too
    mem_mib: float | None = None
    tm_mib: float | None = None
    ok: str = ""
    over_limit: bool = False  # above MAX_CELLS, run only for the floor target

    @property
    def load_ratio(self) -> float | None:
        return _ratio(self.load_ns, self.json_ns)

    @property
    def speedup(self) -> float | None:
        return _ratio(self.py_ns, self.eval_ns)

    @property
    def mg_ratio(self) -> float | None:
        return _ratio(self.mg_ns, self.eval_ns)

    @property
    def gather_ratio(self) -> float | None:
        return _ratio(self.eval_ns, self.gather_ns)

    @property
    def floor_ratio(self) -> float | None:
        return _ratio(self.eval_ns, self.floor_ns)

    @property
    def efloor_ratio(self) -> float | None:
        return _ratio(self.eval_ns, self.efloor_ns)

    @property
    def dir_ratio(self) -> float | None:
        return _ratio(self.dir_ns, self.eval_ns)


@dataclass
class GraphInfo:
    graph: str
    gates: int
    leaves: int
    edges: int
    outputs: int
    text_mb: float
    ids_mib: float
    plan_mib: float
    json_gc_ns: float  # json.loads per gate, collector on
    orjson_gc_ns: float  # orjson.loads per gate, collector on
    loads_gc_ns: float  # service.graph.loads per gate, called with the collector on
    load_gc_ns: float  # load_graph per gate, called with the collector on


@dataclass
class Target:
    what: str
    bound: str
    measured: float | None
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


@dataclass
class Check:
    """Engine results (column 0 of the timed evaluation) beside the Python baseline's, B=1 assignment."""

    label: str
    engine_values: np.ndarray
    engine_grads: np.ndarray
    python_values: np.ndarray
    python_grads: np.ndarray


@dataclass
class Report:
    rows: list[Row]
    graphs: list[GraphInfo]
    skipped: list[str]
    targets: list[Target]
    text: str = ""
    checks: list[Check] = field(default_factory=list)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


# --------------------------------------------------------------------------- the run


class Bench:
    def __init__(self, sizes: list[int], batches: list[int], progress: TextIO | None, keep: bool, quick: bool = False):
        self.sizes = sizes
        self.quick = quick
        self.budget = 0.1 if quick else 0.5  # seconds of repeats per small measurement
        self.min_runs = 2 if quick else 3  # parse and load_graph below 10^6 gates
        self.eval_runs = 3 if quick else 5  # evaluation, kernels and the memory floor, below 2e7 cells
        self.over_limit_runs = not quick  # run the over-limit (gates, B) of the floor and tangents targets
        self.batches = batches
        self.progress = progress
        self.keep = keep
        self.rows: list[Row] = []
        self.graphs: list[GraphInfo] = []
        self.skipped: list[str] = []
        self.checks: list[Check] = []
        self.started = time.perf_counter()

    def say(self, msg: str) -> None:
        if self.progress is not None:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {msg}", file=self.progress, flush=True)

    def run(self) -> None:
        _warm_up()
        for n in self.sizes:
            for shape in SHAPES:
                for arity in ARITIES:
                    self.graph(shape, arity, n)

    def graph(self, shape: str, arity: str, n: int) -> None:
        label = f"{shape} {arity}"
        self.say(f"{label} {n:.0e} gates: build")
        definition = make_definition(shape, arity, n)
        text = json.dumps(definition)
        del definition
        gc.collect()

        self.say(f"{label} {n:.0e}: parse")
        # the collector paused: the figures of the code itself; then once or twice called with it
        # on, where the parsers' cost depends on everything else the process holds (the service's
        # loads() and load_graph() pause it themselves)
        big = n >= 10**6
        runs = dict(min_runs=2, budget=0) if big else dict(min_runs=self.min_runs, budget=self.budget)
        once = dict(min_runs=1 if big else 2, budget=0)
        with_gc = (lambda fn: math.nan) if self.quick else (lambda fn: best_time(fn, **once))  # not with --quick
        json_s = best_time(lambda: json.loads(text), gc_off=True, **runs)
        orjson_s = best_time(lambda: orjson.loads(text), gc_off=True, **runs)
        json_gc_s = with_gc(lambda: json.loads(text))
        orjson_gc_s = with_gc(lambda: orjson.loads(text))
        loads_gc_s = with_gc(lambda: loads(text))
        parsed = loads(text)
        self.say(f"{label} {n:.0e}: load_graph")
        load_s = best_time(lambda: load_graph(parsed), gc_off=True, **runs)
        if self.quick:
            plan, load_gc_s = load_graph(parsed), math.nan
        else:  # the plan kept is that of a timed run
            gc.collect()
            t0 = clock()
            plan = load_graph(parsed)
            load_gc_s = clock() - t0
            if not big:
                load_gc_s = min(load_gc_s, with_gc(lambda: load_graph(parsed)))
        parsed = None  # freed now: the timed lambdas that read it have run
        gc.collect()

        ids_bytes = ids_nbytes(plan)
        self.graphs.append(
            GraphInfo(
                label,
                n,
                plan.first_gate,
                int(plan.sources.size),
                int(plan.outputs.size),
                len(text) / 1e6,
                ids_bytes / MiB,
                plan.nbytes / MiB,
                json_gc_s / n * 1e9,
                orjson_gc_s / n * 1e9,
                loads_gc_s / n * 1e9,
                load_gc_s / n * 1e9,
            )
        )
        text = None  # freed now: the timed lambdas that read it have run
        # drawn column by column, so column 0 (the Python baseline's assignment) is the same for any B
        widest = max(b for b in self.batches if b == 1 or not self._skip(n, b, plan.n_nodes))
        x_all = leaf_values(np.random.default_rng([SEED, 7, n]), widest, plan.n_inputs).T

        self.say(f"{label} {n:.0e}: Python baseline")
        lists = python_lists(plan, x_all[:, 0].tolist())
        py_runs = 3 if n <= 10**4 and not self.quick else 1
        py_s = math.inf
        for _ in range(py_runs):
            gc.collect()
            t0 = clock()
            py_values, py_grads = python_loops(*lists)
            py_s = min(py_s, clock() - t0)
        mg_s = None
        value_class = micrograd_value_class()
        if value_class is not None and arity == "2" and n <= MICROGRAD_MAX_GATES:
            self.say(f"{label} {n:.0e}: micrograd")
            ops, _, args, _, first_gate, leaves, outputs = lists
            mg_s = math.inf
            for _ in range(3 if n <= 10**4 else 1):
                gc.collect()
                t0 = clock()  # the collector on, as micrograd's users run it
                mg_nodes = micrograd_loops(value_class, ops, args, first_gate, leaves, outputs)
                mg_s = min(mg_s, clock() - t0)
                mg_values = np.array([v.data for v in mg_nodes], dtype=float)
                mg_grads = np.array([v.grad for v in mg_nodes], dtype=float)
                del mg_nodes
            if not (np.allclose(mg_values, py_values, rtol=1e-9) and np.allclose(mg_grads, py_grads, rtol=1e-9)):
                mg_s = math.nan  # a baseline that disagrees is no baseline
        del lists
        py_values = np.array(py_values)
        py_grads = np.array(py_grads)

        first = True
        for batch in self.batches:
            cells = plan.n_nodes * batch
            over = cells > MAX_CELLS
            if self._skip(n, batch, plan.n_nodes):
                why = f" ({OVER_LIMIT_RUNS[n, batch]}; not with --quick)" if (n, batch) in OVER_LIMIT_RUNS else ""
                self.skipped.append(f"{label} {_pow10(n)} B={batch}: {cells:.2g} cells > {MAX_CELLS:.0e}{why}")
                continue
            self.say(f"{label} {n:.0e}: evaluate B={batch}")
            row = Row(label, n, batch, plan.n_nodes, over_limit=over)
            if first:
                row.json_ns, row.orjson_ns, row.load_ns = (s / n * 1e9 for s in (json_s, orjson_s, load_s))
                first = False
            if batch == 1:
                row.py_ns = py_s / n * 1e9
                row.mg_ns = None if mg_s is None else mg_s / n * 1e9
            self.evaluation(row, plan, np.ascontiguousarray(x_all[:, :batch]), py_values, py_grads)
            self.rows.append(row)

    def _skip(self, n: int, batch: int, n_nodes: int) -> bool:
        """Above the cell limit, and not a target's run."""
        return n_nodes * batch > MAX_CELLS and not ((n, batch) in OVER_LIMIT_RUNS and self.over_limit_runs)

    def evaluation(self, row: Row, plan: Plan, x: np.ndarray, py_values: np.ndarray, py_grads: np.ndarray) -> None:
        batch = x.shape[1]
        per = 1e9 / (plan.n_gates * batch)
        huge = plan.n_nodes * batch > MAX_CELLS

        tracemalloc.start()
        result = evaluate(plan, x)  # untimed: its results are checked, its peak memory traced
        row.tm_mib = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()
        ev, eg = result.values[:, 0].copy(), result.grads[:, 0].copy()
        finite = bool(np.isfinite(result.values).all() and np.isfinite(result.grads).all())
        row.mem_mib = (plan.nbytes + ids_nbytes(plan) + result.values.nbytes + result.grads.nbytes) / MiB
        del result
        agree = np.allclose(ev, py_values, rtol=1e-9, atol=0) and np.allclose(eg, py_grads, rtol=1e-9, atol=0)
        row.ok = "yes" if agree and finite else ("NO: differs" if not agree else "NO: not finite")
        if self.keep:
            self.checks.append(Check(f"{row.graph} {row.gates} B={batch}", ev, eg, py_values, py_grads))

        runs = dict(min_runs=3, budget=0) if huge else dict(min_runs=self.eval_runs, budget=self.budget / 2)
        runs["collect"] = False  # evaluation leaves no garbage for the collector
        row.eval_ns = best_time(lambda: evaluate(plan, x), **runs) * per

        # the same evaluation along a direction: its values and gradients must not change
        direction = np.random.default_rng([SEED, 11, plan.n_gates]).uniform(-1.0, 1.0, x.shape)
        along = evaluate(plan, x, tangents=direction)
        same = np.array_equal(along.values[:, 0], ev) and np.array_equal(along.grads[:, 0], eg)
        finite = bool(np.isfinite(along.tangents).all() and np.isfinite(along.grad_tangents).all())
        if row.ok == "yes" and not (same and finite):
            row.ok = "NO: directional values differ" if not same else "NO: tangents not finite"
        del along
        row.dir_ns = best_time(lambda: evaluate(plan, x, tangents=direction), **runs) * per

        # the kernels alone, on buffers allocated once (evaluate also allocates and fills them)
        values, grads = engine.new_buffers(plan, batch)
        values.fill(0.0)  # fault every page in now, not in the first timed run
        values[: plan.n_inputs] = x
        values[plan.n_inputs : plan.first_gate] = plan.constants[:, None]

        def reset() -> None:
            grads.fill(0.0)
            grads[plan.outputs] += 1.0

        def kernels() -> None:
            engine.forward(plan, values)
            engine.backward(plan, values, grads)

        if not huge:  # one untimed run (a huge one costs a second or two)
            reset()
            kernels()
        row.kern_ns = best_time(kernels, setup=reset, **runs) * per
        touched = sum(a.nbytes for a in (values, grads, plan.sources, plan.ptr, plan.ops, plan.order))
        values = grads = None  # freed now: the timed lambdas that read it have run
        # the memory floor: one copy of as many bytes as the engine must touch
        src = np.ones(touched, dtype=np.uint8)
        dst = np.zeros(touched, dtype=np.uint8)
        np.copyto(dst, src)
        row.floor_ns = (
            best_time(
                lambda: np.copyto(dst, src),
                min_runs=2 if huge else self.eval_runs,
                budget=self.budget / 2,
                collect=False,
            )
            * per
        )
        src = dst = None  # freed now: the timed lambdas that read it have run
        if batch > 1:
            # the edge floor: the copy's rate (per byte) over the rows forward + backward must touch,
            # (2G + 3E + E_r) rows of B numbers (``edge_rows``); a copy reads and writes each byte it
            # copies, two touches, so the rows' bytes count half
            row_bytes = 8 * batch
            row.efloor_ns = row.floor_ns * (edge_rows(plan) * row_bytes / 2) / touched
        else:
            # the gather floor: one random 8-byte read per edge, one write per node
            index = np.random.default_rng([SEED, 13, plan.n_gates]).integers(0, plan.n_nodes, plan.sources.size)
            index = index.astype(np.int32)
            bounds = np.arange(plan.n_nodes + 1, dtype=np.int64) * index.size // plan.n_nodes
            table = np.ones(plan.n_nodes)
            out = np.zeros(plan.n_nodes)
            gather_floor(bounds, index, table, out)
            row.gather_ns = (
                best_time(
                    lambda: gather_floor(bounds, index, table, out), min_runs=self.eval_runs, budget=self.budget / 2
                )
                * per
            )


def ids_nbytes(plan: Plan) -> int:
    """Bytes held by the plan's ids (not in ``plan.nbytes``): the joined bytes and their offsets,
    and the list of ``str`` objects and the id -> number dict if either has been built (both are
    kept once built; neither is here)."""
    held = sys.getsizeof(plan.node_ids.text) + plan.node_ids.starts.nbytes
    built = plan.__dict__  # where functools.cached_property keeps them
    if "ids" in built:
        held += sys.getsizeof(built["ids"]) + sum(map(sys.getsizeof, built["ids"]))
    if "index" in built:
        held += sys.getsizeof(built["index"]) + sum(map(sys.getsizeof, built["index"]))
    return held


def _warm_up() -> None:
    """Compile (or load from numba's cache) both kernel variants before any timing."""
    plan = load_graph(
        {
            "inputs": ["a", "b", "c"],
            "gates": [
                {"id": "s", "op": "add", "inputs": ["a", "b", "c"]},
                {"id": "p", "op": "mul", "inputs": ["s", "a"]},
                {"id": "q", "op": "mul", "inputs": ["p", "b", "c"]},
            ],
        }
    )
    for batch in (1, 4):
        evaluate(plan, np.ones((3, batch)))
        evaluate(plan, np.ones((3, batch)), tangents=np.ones((3, batch)))
    binary = load_graph({"inputs": ["a", "b"], "gates": [{"id": "p", "op": "mul", "inputs": ["a", "b"]}]})
    evaluate(binary, np.ones((2, 1)))
    gather_floor(np.arange(3), np.zeros(2, np.int32), np.ones(2), np.zeros(2))


# --------------------------------------------------------------------------- targets


def _targets(rows: list[Row]) -> list[Target]:
    def find(graph: str, gates: int, batch: int) -> Row | None:
        return next((r for r in rows if r.graph == graph and r.gates == gates and r.batch == batch), None)

    def target(what: str, bound: str, value: float | None, ok: Callable[[float], bool]) -> Target:
        return Target(what, bound, value, None if value is None else ok(value))

    targets = []
    for shape in SHAPES:
        for arity in ARITIES:
            row = find(f"{shape} {arity}", 10**6, 1)
            targets.append(
                target(
                    f"load_graph / json.loads, {shape} {arity}, 10^6 gates",
                    f"<= {TARGET_LOAD_RATIO}",
                    row and row.load_ratio,
                    lambda v: v <= TARGET_LOAD_RATIO,
                )
            )
    for shape in SHAPES:
        row = find(f"{shape} 2", 10**6, 1)
        targets.append(
            target(
                f"plan+ids+values+grads MiB, {shape} 2, 10^6 gates, B=1",
                f"< {TARGET_MEMORY_MIB:.0f}",
                row and row.mem_mib,
                lambda v: v < TARGET_MEMORY_MIB,
            )
        )
    for shape in SHAPES:
        row = find(f"{shape} 2", 10**6, 1)
        bound = TARGET_SPEEDUP[shape]
        targets.append(
            target(
                f"speedup over Python, {shape} 2, 10^6 gates, B=1",
                f">= {bound:.0f}",
                row and row.speedup,
                lambda v, b=bound: v >= b,
            )
        )

    for shape in SHAPES:
        row = find(f"{shape} 2", MICROGRAD_MAX_GATES, 1)
        targets.append(
            target(
                f"speedup over micrograd, {shape} 2, {_pow10(MICROGRAD_MAX_GATES)} gates, B=1",
                f">= {TARGET_MICROGRAD:,.0f}",
                row and row.mg_ratio,
                lambda v: v >= TARGET_MICROGRAD,
            )
        )

    def every_graph(
        gates: int,
        batch: int,
        what: str,
        limit: float,
        measured: Callable[[Row], float | None],
        arities: tuple[str, ...] = tuple(ARITIES),
    ) -> None:
        """One target a graph kind at (gates, batch): the row's ``measured`` at most ``limit``."""
        for shape in SHAPES:
            for arity in arities:
                row = find(f"{shape} {arity}", gates, batch)
                label = f"{what}, {shape} {arity}, {_pow10(gates)} gates, B={batch}"
                targets.append(target(label, f"<= {limit:g}", row and measured(row), lambda v: v <= limit))

    every_graph(10**5, 1, "engine / gather floor", TARGET_GATHER_RATIO, lambda r: r.gather_ratio)
    for gates, batch in DIRECTION_TARGETS:
        every_graph(gates, batch, "with tangents / plain passes", TARGET_DIRECTION_RATIO, lambda r: r.dir_ratio)
    for arity, limit in TARGET_FLOOR_RATIO.items():
        every_graph(*FLOOR_TARGET, "engine / memory floor", limit, lambda r: r.floor_ratio, (arity,))
    for arity, limit in TARGET_EDGE_FLOOR_RATIO.items():
        every_graph(*FLOOR_TARGET, "engine / edge floor", limit, lambda r: r.efloor_ratio, (arity,))
    return targets


# --------------------------------------------------------------------------- printing


def _pow10(n: int) -> str:
    e = round(math.log10(n)) if n > 0 else 0
    return f"10^{e}" if 10**e == n else str(n)


def machine_lines() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(f"{p} {version(p)}" for p in ("numpy", "numba", "orjson", "marshmallow"))
    return [
        f"machine: {cpu}, {cores} cores{mem}; {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, {versions}",
        f"commit: {commit('service/graph')}",
    ]


def render(report: Report, elapsed: float, sizes: list[int], batches: list[int], machine: list[str]) -> str:
    parts = [
        "Graph core benchmark",
        *machine,
        f"sizes: {', '.join(map(_pow10, sizes))} gates; B: {', '.join(map(str, batches))}; "
        f"cells (nodes x B) limited to {MAX_CELLS:.0e}; times: least CPU time (user+sys) of several runs",
        "",
    ]
    parts.append(
        _table(
            [
                "graph",
                "gates",
                "leaves",
                "edges",
                "outputs",
                "JSON MB",
                "ids MiB",
                "plan MiB",
                "json+gc",
                "orjson+gc",
                "loads()",
                "load_graph()",
            ],
            [
                [
                    g.graph,
                    _pow10(g.gates),
                    str(g.leaves),
                    str(g.edges),
                    str(g.outputs),
                    _num(g.text_mb),
                    _num(g.ids_mib),
                    _num(g.plan_mib),
                    _num(g.json_gc_ns),
                    _num(g.orjson_gc_ns),
                    _num(g.loads_gc_ns),
                    _num(g.load_gc_ns),
                ]
                for g in report.graphs
            ],
        )
    )
    parts.append("")
    header = [
        "graph",
        "gates",
        "B",
        "json",
        "orjson",
        "load",
        "load/json",
        "eval",
        "kern",
        "python",
        "speedup",
        "mgrad",
        "x mgrad",
        "gather",
        "eval/gather",
        "floor",
        "eval/floor",
        "efloor",
        "eval/efloor",
        "dir",
        "dir/eval",
        "mem MiB",
        "tm MiB",
        "ok",
    ]
    lines = []
    for r in report.rows:
        lines.append(
            [
                r.graph,
                _pow10(r.gates),
                f"{r.batch}{'*' if r.over_limit else ''}",
                _num(r.json_ns),
                _num(r.orjson_ns),
                _num(r.load_ns),
                _num(r.load_ratio),
                _num(r.eval_ns),
                _num(r.kern_ns),
                _num(r.py_ns),
                _num(r.speedup),
                _num(r.mg_ns),
                _num(r.mg_ratio),
                _num(r.gather_ns),
                _num(r.gather_ratio),
                _num(r.floor_ns),
                _num(r.floor_ratio),
                _num(r.efloor_ns),
                _num(r.efloor_ratio),
                _num(r.dir_ns),
                _num(r.dir_ratio),
                _num(r.mem_mib),
                _num(r.tm_mib),
                r.ok,
            ]
        )
    parts.append(_table(header, lines, right=set(range(1, len(header) - 1))))
    parts.append(
        "times in ns per gate (B=1) or per gate x item (B>1); json, orjson, load (collector off) and "
        "python on the B=1 row; dir: evaluate along a direction (tangents and gradients' tangents too)",
    )
    missing = "" if micrograd_value_class() else " (not installed: pip install micrograd)"
    parts.append(
        f"mgrad: micrograd (collector on), binary graphs up to {_pow10(MICROGRAD_MAX_GATES)} gates{missing}; "
        "gather: one random 8-byte read per edge + one write per node (B=1); floor: one copy of values, grads "
        "and the plan's arrays; efloor: the copy's rate over (2G + 3E + E_r) rows of B numbers, E_r the edges of "
        "gates whose partial reads the other inputs (mul), half of them as bytes copied (B>1)"
    )
    if any(r.over_limit for r in report.rows):
        parts.append(f"* above the {MAX_CELLS:.0e}-cell limit: run only for the memory-floor or tangents target")
    for s in report.skipped:
        parts.append(f"skipped {s}")
    parts += ["", "targets"]
    parts.append(
        _table(
            ["target", "bound", "measured", "verdict"],
            [[t.what, t.bound, _num(t.measured), t.verdict] for t in report.targets],
            right={2},
        )
    )
    missed = sum(t.passed is False for t in report.targets)
    unmeasured = sum(t.passed is None for t in report.targets)
    parts.append(f"{missed} missed, {unmeasured} not measured in this run; total {elapsed:.0f} s")
    return "\n".join(parts)


# --------------------------------------------------------------------------- command line


def _size(text: str) -> int:
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a gate count: {text}")
    return int(value)


def _list(kind: Callable[[str], int]) -> Callable[[str], list[int]]:
    def parse(text: str) -> list[int]:
        return [kind(part) for part in text.replace(",", " ").split()]

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_core", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 gates only")
    parser.add_argument("--sizes", type=_list(_size), help="gate counts, e.g. 1e4,1e5,1e6 (default: 10^4..10^6)")
    parser.add_argument("--batches", type=_list(int), help="batch sizes, e.g. 1,64,1024 (default)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, out: TextIO | None = None, keep: bool = False) -> Report:
    """Run the benchmark, print its tables to ``out`` (stdout), and return them.

    ``keep`` also returns the engine's results beside the Python baseline's (``Report.checks``).
    """
    args = parse_args(argv)
    out = sys.stdout if out is None else out
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    batches = args.batches or list(DEFAULT_BATCHES)
    bench = Bench(sizes, batches, None if args.no_progress else sys.stderr, keep, quick=args.quick)
    machine = machine_lines()  # the commit as the run starts
    bench.run()
    report = Report(bench.rows, bench.graphs, bench.skipped, _targets(bench.rows), checks=bench.checks)
    report.text = render(report, time.perf_counter() - bench.started, sizes, batches, machine)
    print(report.text, file=out, flush=True)
    return report


if __name__ == "__main__":
    main()
