"""Result chunks: values, gradients and (for a job with a direction) tangents, exactly, across chunk borders."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from service.graph import Evaluation, JobInputs, load_graph
from service.storage import job_rows
from service.storage.database import get_engine, session_factory
from service.storage.graph_rows import save_graph
from service.storage.keys import create_key
from service.storage.models import Job, JobChunk, Tenant
from service.storage.result_chunks import read_results


def _running_job(settings, n_inputs: int, batch_size: int) -> tuple[str, int]:
    with session_factory(settings.database_url)() as session:
        create_key(session, "acme")
        tenant_id = session.scalar(select(Tenant.id))
        inputs = [f"x{i}" for i in range(n_inputs)]
        plan = load_graph({"inputs": inputs, "gates": [{"id": "f", "op": "add", "inputs": inputs}]})
        graph = save_graph(session, tenant_id, plan)
        session.commit()
        bound = JobInputs(np.ones((n_inputs, batch_size)), np.ones((1, batch_size)), batch_size > 1)
        values = job_rows.new_job(tenant_id, graph.id, bound, False, None, None)
        job_id = job_rows.insert_job(session, values, room=100).id
    with get_engine(settings.database_url).connect() as connection:
        claimed = job_rows.claim(connection, job_id, job_rows.seconds_ago(60))
    return job_id, claimed


@pytest.mark.parametrize("with_tangents", [False, True])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_results_read_back_exactly_across_chunks(settings, with_tangents, batch_size):
    n_nodes = 1001  # 1000 inputs and one gate
    job_id, claimed = _running_job(settings, n_nodes - 1, batch_size)
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((n_nodes, batch_size)) for _ in range(4 if with_tangents else 2)]
    arrays[0][5, 0] = np.inf
    arrays[-1][-1, -1] = np.nan
    result = Evaluation(*arrays)
    with get_engine(settings.database_url).connect() as connection:
        assert job_rows.succeed(connection, claimed, arrays[0][-1:], None, result, chunk_nodes=128)
    with session_factory(settings.database_url)() as session:
        job = session.get(Job, job_id)
        assert session.scalar(select(JobChunk.chunk).where(JobChunk.job_id == job_id).order_by(JobChunk.chunk.desc()))
        for start, stop in [(0, n_nodes), (127, 129), (1000, 1001), (300, 777)]:
            got = read_results(session, job, start, stop)
            names = ("values", "grads", "tangents", "grad_tangents")[: len(arrays)]
            for name, want in zip(names, arrays, strict=True):
                assert getattr(got, name).tobytes() == want[start:stop].tobytes(), (name, start, stop)
            if not with_tangents:
                assert got.tangents is None and got.grad_tangents is None
        picked = read_results(session, job, 0, n_nodes).take(np.array([1000, 3, 3]))
        assert picked.values.tobytes() == arrays[0][[1000, 3, 3]].tobytes()
        assert (picked.tangents is None) == (not with_tangents)
