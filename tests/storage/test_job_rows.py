"""Job rows: the stored inputs format, and the claim/succeed fencing on both databases."""
import io

import numpy as np
import pytest

from sqlalchemy import select

from service.api.auth import create_key
from service.graph import JobInputs, load_graph
from service.storage import jobs
from service.storage.database import get_engine, session_factory
from service.storage.graphs import save_graph
from service.storage.models import Job, Tenant


@pytest.mark.parametrize("shape", [(3, 1), (5, 7), (1, 1000)])
def test_inputs_round_trip_exactly(shape):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(shape)
    values[0, 0] = -0.0
    grads = rng.standard_normal((2, shape[1]))
    got_values, got_grads = jobs.inputs_from_bytes(jobs.inputs_to_bytes(JobInputs(values, grads, shape[1] > 1)))
    assert got_values.tobytes() == values.tobytes() and got_grads.tobytes() == grads.tobytes()


def test_inputs_stored_as_npz_by_earlier_versions_still_load():
    values, grads = np.array([[-2.0], [5.0], [-4.0]]), np.array([[1.0]])
    buffer = io.BytesIO()
    np.savez(buffer, values=values, output_grads=grads)
    got_values, got_grads = jobs.inputs_from_bytes(buffer.getvalue())
    assert np.array_equal(got_values, values) and np.array_equal(got_grads, grads)


def test_unknown_inputs_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        jobs.inputs_from_bytes(b"XXXX" + bytes(12))


def _queued_job(settings) -> str:
    with session_factory(settings.database_url)() as session:
        create_key(session, "acme")
        tenant_id = session.scalar(select(Tenant.id))
        plan = load_graph({"inputs": ["x", "y"], "gates": [{"id": "f", "op": "mul", "inputs": ["x", "y"]}]})
        graph = save_graph(session, tenant_id, plan)
        session.commit()
        bound = JobInputs(np.array([[2.0], [3.0]]), np.array([[1.0]]), False)
        values = jobs.new_job(tenant_id, graph.id, bound, False, None, None)
        return jobs.insert_job(session, values).id


def test_claim_reads_the_job_and_fences_the_final_write(settings):
    job_id = _queued_job(settings)
    with get_engine(settings.database_url).connect() as conn:
        first = jobs.claim(conn, job_id, jobs.seconds_ago(60))
        assert first is not None and first.attempt == 1 and not first.batched
        assert jobs.claim(conn, job_id, jobs.seconds_ago(60)) is None  # running, heartbeat fresh
        taken_over = jobs.claim(conn, job_id, jobs.seconds_ago(-60))  # as if its heartbeat were stale
        assert taken_over is not None and taken_over.attempt == 2
        values, grads = np.array([[2.0], [3.0], [6.0]]), np.array([[3.0], [2.0], [1.0]])
        assert not jobs.succeed(conn, job_id, 1, "{}", None, values, grads, 16)  # the first attempt lost the job
        assert jobs.succeed(conn, job_id, 2, '{"f": 6.0}', None, values, grads, 16)
    with session_factory(settings.database_url)() as session:
        job = session.get(Job, job_id)
        assert job.status == "succeeded" and job.attempts == 2 and job.outputs == '{"f": 6.0}' and job.finished_at >= job.started_at
