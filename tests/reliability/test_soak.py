"""A soak: a few thousand mixed jobs from concurrent clients while workers are SIGKILLed now and then.

Afterwards every accepted job has ended, the counts add up (accepted = succeeded + failed
with a reason; nothing lost; every invalid submission got 422; no job stored twice), and a
sample of the results equals the exact oracle. The figures are printed and written to
``tests/reliability/last_soak.json`` (not tracked) for the README.

GATEGRAPH_SOAK_JOBS sets the number of submissions (default 3,000: about two minutes here).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from service.storage.database import session_factory
from service.storage.models import Graph, Job, JobChunk
from tests.conftest import Client
from tests.e2e.test_jobs_through_a_worker import all_nodes, layered_graph
from tests.oracle import exact
from tests.reliability.conftest import TERMINAL, chain
from tests.reliability.test_worker_kills import wide

JOBS = int(os.environ.get("GATEGRAPH_SOAK_JOBS", "3000"))
CLIENTS = 6
WORKERS = 3  # of one pool child each; one is always left alive
KILL_EVERY = 5.0  # seconds between worker kills while clients submit
SOAK_WORKER_ENV = {"JOB_SOFT_TIME_LIMIT": "1.5", "JOB_TIME_LIMIT": "2.5"}  # so that runaways end quickly
DRAIN_WITHIN = 150.0  # seconds for every accepted job to end once submissions stop
FIGURES = Path(__file__).with_name("last_soak.json")
CIRCUIT = {
    "inputs": ["x", "y", "z"],
    "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}],
}
#: Kinds of submission and their shares: most are small, a few are runaways that hit the time limit.
MIX = {"small": 50, "one_step": 10, "batch": 15, "large": 6, "runaway": 0.3, "invalid": 12}


class Soak:
    """The clients' side: what was sent, what was answered, and what to check afterwards."""

    def __init__(self, stack, seed: int = 7):
        self.stack, self.lock = stack, threading.Lock()
        self.answers: Counter = Counter()
        self.accepted: dict[str, tuple[str, dict, dict]] = {}  # job id -> (kind, definition, inputs)
        self.replays = 0
        api = stack.api
        self.graphs = {
            "small": (CIRCUIT, api.post("/v1/graphs", json=CIRCUIT).get_json()["id"]),
            "batch": (layered_graph(seed), api.post("/v1/graphs", json=layered_graph(seed)).get_json()["id"]),
            "large": (chain(5_000), api.post("/v1/graphs", json=chain(5_000)).get_json()["id"]),
            "runaway": (None, api.post("/v1/graphs", json=wide()).get_json()["id"]),
        }

    def request(self, rng: random.Random) -> tuple[str, str, dict, dict | None, dict | None]:
        """One submission: (kind, url, body, definition, inputs) — definition None when invalid."""
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "small":
            inputs = {k: rng.randint(-9, 9) for k in "xyz"}
            return kind, f"/v1/graphs/{self.graphs['small'][1]}/jobs", {"inputs": inputs}, CIRCUIT, inputs
        if kind == "one_step":
            definition = layered_graph(rng.randrange(10**6))
            inputs = {k: rng.randint(-2, 2) for k in definition["inputs"]}
            return kind, "/v1/jobs", {"graph": definition, "inputs": inputs}, definition, inputs
        if kind == "batch":
            definition, graph_id = self.graphs["batch"]
            inputs = {k: [rng.randint(-2, 2) for _ in range(50)] for k in definition["inputs"]}
            return kind, f"/v1/graphs/{graph_id}/jobs", {"inputs": inputs}, definition, inputs
        if kind == "large":
            inputs = {"x": rng.randint(-50, 50), "y": 1}
            return (
                kind,
                f"/v1/graphs/{self.graphs['large'][1]}/jobs",
                {"inputs": inputs},
                self.graphs["large"][0],
                inputs,
            )
        if kind == "runaway":
            inputs = {"x": [1.0] * 5_000, "y": [1.0] * 5_000}
            return kind, f"/v1/graphs/{self.graphs['runaway'][1]}/jobs", {"inputs": inputs}, None, inputs
        return kind, *self.invalid(rng), None, None

    def invalid(self, rng: random.Random) -> tuple[str, dict]:
        small = f"/v1/graphs/{self.graphs['small'][1]}/jobs"
        return rng.choice(
            [
                (small, {"inputs": {"x": 1, "y": 2}}),  # a missing input
                (small, {"inputs": {"x": 1, "y": 2, "z": 3, "w": 4}}),  # an unknown one
                (small, {"inputs": {"x": 1, "y": 2, "z": 3}, "output_grads": {"q": 1}}),  # q is not an output
                (small, {"inputs": {"x": [1, 2], "y": [1], "z": [1, 2]}}),  # batches of different lengths
                (
                    "/v1/jobs",
                    {
                        "graph": {
                            "inputs": ["a"],
                            "gates": [
                                {"id": "p", "op": "add", "inputs": ["a", "r"]},
                                {"id": "r", "op": "mul", "inputs": ["p", "a"]},
                            ],
                        },
                        "inputs": {"a": 1},
                    },
                ),  # a cycle
                (
                    "/v1/jobs",
                    {
                        "graph": {"inputs": ["a"], "gates": [{"id": "p", "op": "pow", "inputs": ["a", "a"]}]},
                        "inputs": {"a": 1},
                    },
                ),
            ]
        )

    def client(self, index: int, count: int) -> None:
        """One client: ``count`` submissions, a 503 retried after Retry-After.

        Some are retried on purpose with their Idempotency-Key.
        """
        api, rng = Client(self.stack.api.raw.application.test_client(), self.stack.api.key), random.Random(index)
        for n in range(count):
            kind, url, body, definition, inputs = self.request(rng)
            key = f"soak-{index}-{n}"
            response = self._post(api, url, body, key)
            with self.lock:
                self.answers[(kind == "invalid", response.status_code)] += 1
            if response.status_code == 202:
                job_id = response.get_json()["id"]
                with self.lock:
                    self.accepted[job_id] = (kind, definition, inputs)
                if rng.random() < 0.03:  # the client did not see the answer and sends it again
                    again = self._post(api, url, body, key)
                    assert again.status_code == 202 and again.get_json()["id"] == job_id
                    assert again.headers.get("Idempotent-Replayed") == "true"
                    with self.lock:
                        self.replays += 1

    def _post(self, api: Client, url: str, body: dict, key: str):
        for _ in range(5):
            response = api.post(url, json=body, headers={"Idempotency-Key": key})
            if response.status_code != 503:
                return response
            with self.lock:
                self.answers["503 retried"] += 1
            time.sleep(min(1.0, float(response.headers["Retry-After"])))
        return response


def kill_workers_until(stack, stop: threading.Event, kills: list[str]) -> None:
    """Every KILL_EVERY seconds SIGKILL one worker (main process and children) and start another.

    One worker is always left alive: with none, nothing would run until the new one is ready.
    """
    rng, starting = random.Random(11), []
    while not stop.wait(KILL_EVERY):
        alive = [w for w in stack.workers if w.process.poll() is None]
        if len(alive) < 2:
            continue
        victim = rng.choice(alive)
        stack.kill_worker(victim)
        kills.append(victim.log.name)
        starting.append(threading.Thread(target=stack.start_worker, kwargs=SOAK_WORKER_ENV))
        starting[-1].start()
    for thread in starting:
        thread.join()


def wait_all_ended(stack, seconds: float) -> dict[str, int]:
    sessions = session_factory(stack.settings.database_url)
    deadline = time.monotonic() + seconds
    while True:
        with sessions() as session:
            counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        if not (counts.get("queued", 0) or counts.get("running", 0)) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def stored_wrongly(stack) -> list[str]:
    """Succeeded jobs whose result chunks are not exactly one per chunk of nodes."""
    nodes = Graph.n_inputs + Graph.n_constants + Graph.n_gates
    query = (
        select(Job.id, nodes, Job.chunk_nodes, func.count(JobChunk.chunk), func.max(JobChunk.chunk))
        .join(Graph, Graph.id == Job.graph_id)
        .outerjoin(JobChunk, JobChunk.job_id == Job.id)
        .where(Job.status == "succeeded")
        .group_by(Job.id, nodes, Job.chunk_nodes)
    )
    with session_factory(stack.settings.database_url)() as session:
        rows = session.execute(query).all()
    return [job_id for job_id, n, per, count, last in rows if count != -(-n // per) or last != count - 1]


def spot_check(api: Client, job_id: str, kind: str, definition: dict, inputs: dict) -> None:
    """The job's outputs, and every node of small graphs (a few of large ones), against the exact oracle."""
    outputs = api.get(f"/v1/jobs/{job_id}").get_json()["outputs"]
    if kind == "large":
        nodes = {n: api.get(f"/v1/jobs/{job_id}/nodes/{n}").get_json() for n in ("x", "y", "g0", "g2500", "g4999")}
    else:
        nodes = all_nodes(api, job_id)
    for column in [0, 17, 49] if kind == "batch" else [None]:
        pick = (lambda v: v) if column is None else (lambda v: v[column])  # noqa: B023 - used at once
        values, grads = exact(definition, {k: pick(v) for k, v in inputs.items()})
        assert kind == "large" or nodes.keys() == values.keys()
        for node_id, node in nodes.items():
            assert (pick(node["value"]), pick(node["grad"])) == (float(values[node_id]), float(grads[node_id])), (
                kind,
                job_id,
                node_id,
            )
        assert {name: pick(value) for name, value in outputs.items()} == {name: float(values[name]) for name in outputs}


def test_soak_mixed_jobs_concurrent_clients_workers_killed(fault_stack):
    stack = fault_stack
    started = time.monotonic()
    stack.start_workers(WORKERS, **SOAK_WORKER_ENV)
    soak = Soak(stack)
    stop, kills = threading.Event(), []
    killer = threading.Thread(target=kill_workers_until, args=(stack, stop, kills))
    killer.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            for future in [pool.submit(soak.client, i, JOBS // CLIENTS) for i in range(CLIENTS)]:
                future.result()
    finally:
        stop.set()
        killer.join()
    submitted_in = time.monotonic() - started
    counts = wait_all_ended(stack, DRAIN_WITHIN)

    with session_factory(stack.settings.database_url)() as session:
        failed = session.execute(select(Job.id, Job.error_code, Job.error_message).where(Job.status == "failed")).all()
        rerun = session.scalar(select(func.count()).select_from(Job).where(Job.attempts > 1))
    reasons = Counter(code for _, code, _ in failed)
    accepted, completed = len(soak.accepted), sum(counts.get(s, 0) for s in TERMINAL)
    invalid_sent = sum(n for key, n in soak.answers.items() if isinstance(key, tuple) and key[0])
    figures = {
        "submissions": JOBS // CLIENTS * CLIENTS,
        "clients": CLIENTS,
        "accepted": accepted,
        "completed": completed,
        "runaways_accepted": sum(1 for kind, _, _ in soak.accepted.values() if kind == "runaway"),
        "succeeded": counts.get("succeeded", 0),
        "failed": counts.get("failed", 0),
        "failed_reasons": dict(reasons),
        "failed_kinds": dict(Counter(soak.accepted[job_id][0] for job_id, _, _ in failed)),
        "canceled": counts.get("canceled", 0),
        "lost": accepted - completed,
        "invalid_sent": invalid_sent,
        "invalid_422": soak.answers[(True, 422)],
        "idempotent_replays": soak.replays,
        "retried_503": soak.answers["503 retried"],
        "worker_kills": len(kills),
        "jobs_run_more_than_once": rerun,
        "stored_wrongly": len(stored_wrongly(stack)),
        "seconds": round(time.monotonic() - started, 1),
        "submitting_seconds": round(submitted_in, 1),
        "answers": {
            f"{'invalid' if k[0] else 'valid'} {k[1]}": n for k, n in soak.answers.items() if isinstance(k, tuple)
        },
    }
    print("\nsoak:", json.dumps(figures, indent=1))
    FIGURES.write_text(json.dumps(figures, indent=1) + "\n")

    assert sum(counts.values()) == accepted, "a job row for a submission that was not accepted (or a missing one)"
    assert figures["lost"] == 0, counts
    assert figures["succeeded"] + figures["failed"] == accepted and figures["canceled"] == 0
    assert all(code and message for _, code, message in failed), "a failed job without a reason"
    assert figures["invalid_422"] == invalid_sent, soak.answers
    assert set(soak.answers) <= {(False, 202), (True, 422), "503 retried"}, soak.answers
    assert figures["stored_wrongly"] == 0
    assert len(kills) >= 1
    assert set(reasons) <= {"time_limit", "worker_lost"}, reasons  # runaways, or a job whose workers kept dying
    succeeded = _succeeded_ids(stack)
    checkable = [
        (job_id, *what) for job_id, what in soak.accepted.items() if what[0] != "runaway" and job_id in succeeded
    ]
    for job_id, kind, definition, inputs in random.Random(3).sample(checkable, min(80, len(checkable))):
        spot_check(stack.api, job_id, kind, definition, inputs)


def _succeeded_ids(stack) -> set[str]:
    with session_factory(stack.settings.database_url)() as session:
        return set(session.scalars(select(Job.id).where(Job.status == "succeeded")))
