"""A tenant alone on the service: this checkout against an earlier build, two stacks side by side.

    python -m tests.benchmarks.bench_lone_tenant --base fea3040          # before fair sharing (#11), PostgreSQL
    python -m tests.benchmarks.bench_lone_tenant --base HEAD --base-env RATE_LIMIT=off   # the limiter's share
    python -m tests.benchmarks.bench_lone_tenant --base fea3040 --database sqlite        # the embedded default's

Why a separate benchmark: fair sharing's bound for a tenant alone (its small-job latency no worse
than 10% above what it was) compares two builds, and this machine's speed drifts by a third within
minutes, so runs of ``bench_service`` minutes apart disagree by more than the bound. Here both
stacks run at once, each as ``bench_service`` starts one (gunicorn 2 x 8 threads, a Celery worker
of concurrency 2, its own database, queue and port); the base runs from a ``git worktree`` of
``--base``. While one is measured the other is idle. Their rounds alternate, the first of each
pair alternating too (ABBA), so a drift of the machine falls on both alike, and the figures are the
median of the per-pair ratios (this build / the base), printed with their range.

A pair, on each stack:

* unloaded: one client, ``--jobs`` worked examples one after another, with ``Prefer: wait``
  (one round trip) and with POST then ``GET ?wait=`` (two); the p50 of each;
* loaded: ``--clients`` clients (8) sending ``--loaded-jobs`` each with ``Prefer: wait``; jobs/s,
  and the CPU time per job of the API, the worker, PostgreSQL's backends of the stack's database
  and Redis (the whole server's, from ``INFO cpu``: the limiter's counting runs there).

The command prints its table and exits 0 whatever the ratios; 1 only when a stack fails.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from tests.benchmarks import bench_service
from tests.benchmarks.bench_service import PG_DATABASE, ROOT, Bench, Round, StackError, machine_lines
from tests.benchmarks.report import commit
from tests.benchmarks.report import num as _num
from tests.benchmarks.report import table as _table

BOUND = 1.10  # a lone tenant's small-job latency, this build / the base, at most (issue #11)
KINDS = ("unloaded, Prefer: wait", "unloaded, two round trips", "loaded, Prefer: wait")
LOADED = KINDS[2]
CPU_GROUPS = ("api", "worker", "postgres", "redis")


@dataclass
class Side:
    """One stack and its rounds, by kind."""

    label: str
    bench: Bench
    calls: dict[str, Callable[[requests.Session], None]] = field(default_factory=dict)
    rounds: dict[str, list[Round]] = field(default_factory=dict)


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(side: Side, kind: str, args: argparse.Namespace, broker: redis.Redis) -> Round:
    """One round of ``kind`` on ``side``, with Redis's CPU seconds added to the round's."""
    bench, wait_job, two_trips = side.bench, side.calls["wait"], side.calls["two"]
    before = _redis_cpu(broker)
    if kind == KINDS[0]:
        result = bench.clients_run(f"{side.label}: {kind}", wait_job, args.jobs, clients=1)
    elif kind == KINDS[1]:
        result = bench.clients_run(f"{side.label}: {kind}", two_trips, args.jobs, clients=1)
    else:
        result = bench.clients_run(f"{side.label}: {kind}", wait_job, args.loaded_jobs)
    result.cpu["redis"] = _redis_cpu(broker) - before
    side.rounds.setdefault(kind, []).append(result)
    return result


def figure(kind: str, result: Round) -> float:
    """What is compared: the p50 of an unloaded round, the throughput of a loaded one."""
    return result.pct(50) if kind.startswith("unloaded") else result.rate


def start(side: Side) -> None:
    side.bench.baseline_worker = False
    side.bench.setup()
    two_trips, wait_job = side.bench.small_job_calls()
    side.calls = {"two": two_trips, "wait": wait_job}
    side.bench.until_it_answers(side.label, wait_job)
    side.bench.clients_run(f"{side.label}: warm-up", wait_job, 5)  # every worker child, kernels and connections


def render(args: argparse.Namespace, base: Side, head: Side) -> str:
    lines: list[list[str]] = []
    verdicts: list[str] = []
    for kind in KINDS:
        ratios = [figure(kind, h) / figure(kind, b) for b, h in zip(base.rounds[kind], head.rounds[kind], strict=True)]
        b_fig = statistics.median(figure(kind, r) for r in base.rounds[kind])
        h_fig = statistics.median(figure(kind, r) for r in head.rounds[kind])
        scale, unit = (1e3, "ms p50") if kind.startswith("unloaded") else (1.0, "jobs/s")
        median = statistics.median(ratios)
        lines.append(
            [
                kind,
                unit,
                _num(b_fig * scale),
                _num(h_fig * scale),
                _num(median),
                f"{_num(min(ratios))}-{_num(max(ratios))}",
            ]
        )
        if kind.startswith("unloaded"):
            verdicts.append(f"{kind}: {_num(median)} (bound {BOUND}) {'PASS' if median <= BOUND else 'MISS'}")
    cpu = {
        name: (
            statistics.median(r.cpu_ms(name) for r in base.rounds[LOADED]),
            statistics.median(r.cpu_ms(name) for r in head.rounds[LOADED]),
        )
        for name in CPU_GROUPS
    }
    cpu["all four"] = (sum(b for b, _ in cpu.values()), sum(h for _, h in cpu.values()))
    cpu_lines = [[name, _num(b), _num(h), _num(h - b)] for name, (b, h) in cpu.items()]
    return "\n".join(
        [
            "",
            f"A lone tenant: {commit('service', 'worker')} against {args.base}"
            + (f" with {' '.join(args.base_env)}" if args.base_env else "")
            + (f", this build with {' '.join(args.head_env)}" if args.head_env else ""),
            f"{args.database}; {args.pairs} pairs of rounds, ABBA; {args.jobs} unloaded jobs a round, "
            f"{args.clients} x {args.loaded_jobs} loaded",
            *machine_lines(),
            "",
            _table(["round", "figure", "base", "this build", "ratio (median)", "ratios"], lines),
            "",
            f"CPU ms per job, {args.clients} clients (medians of the rounds)",
            _table(["process", "base", "this build", "difference"], cpu_lines),
            "",
            "target (#11): a tenant alone, small-job latency this build / base at most 1.10",
            *(f"  {v}" for v in verdicts),
        ]
    )


def _env_pairs(values: list[str]) -> dict[str, str]:
    pairs = dict(v.split("=", 1) for v in values)
    return {k.strip(): v for k, v in pairs.items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.bench_lone_tenant", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base", required=True, help="the commit to compare with (checked out as a git worktree)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--pairs", type=int, default=8, help="pairs of rounds (default 8)")
    parser.add_argument("--jobs", type=int, default=60, help="unloaded jobs a round (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="clients of the loaded round (default 8)")
    parser.add_argument("--loaded-jobs", type=int, default=25, help="jobs per client of the loaded round (25)")
    parser.add_argument("--base-env", nargs="*", default=[], metavar="NAME=VALUE", help="settings of the base stack")
    parser.add_argument("--head-env", nargs="*", default=[], metavar="NAME=VALUE", help="settings of this build's")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="gategraph-lone-tenant-"))
    worktree = tmp / "base"
    add = ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.base]
    added = subprocess.run(add, capture_output=True, text=True, timeout=120)
    if added.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"--base {args.base}: git worktree add failed: {added.stderr.strip()}")
    stack_args = bench_service.parse_args(["--database", args.database, "--clients", str(args.clients)])
    base = Side("base", Bench(stack_args, root=worktree, pg_database=f"{PG_DATABASE}_base"))
    head = Side("this build", Bench(stack_args, pg_database=f"{PG_DATABASE}_head"))
    base.bench.extra_env, head.bench.extra_env = _env_pairs(args.base_env), _env_pairs(args.head_env)
    broker = redis.Redis.from_url(head.bench.broker_url)
    try:
        for side in (base, head):
            start(side)
        for i in range(args.pairs):
            for kind in KINDS:
                for side in (base, head) if i % 2 == 0 else (head, base):
                    measure(side, kind, args, broker)
        print(render(args, base, head), flush=True)
        return 0
    except StackError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        for side in (base, head):
            print(f"--- {side.label}:\n{side.bench.stack.logs()}", file=sys.stderr)
        return 1
    finally:
        broker.close()
        _stop(base, head, worktree, tmp)


def _stop(base: Side, head: Side, worktree: Path, tmp: Path) -> None:
    for side in (head, base):
        try:
            side.bench.teardown()
        except Exception as exc:  # noqa: BLE001 - cleanup: report and go on
            print(f"stopping {side.label}: {exc!r}", file=sys.stderr)
    remove = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)]
    subprocess.run(remove, capture_output=True, timeout=60)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
