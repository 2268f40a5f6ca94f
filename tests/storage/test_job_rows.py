"""Job rows: the claim/succeed fencing on both databases."""

import numpy as np
from sqlalchemy import select

from service.graph import Evaluation, JobInputs, load_graph
from service.storage import job_rows
from service.storage.database import get_engine, session_factory
from service.storage.graph_rows import save_graph
from service.storage.job_blobs import outputs_from_row
from service.storage.keys import create_key
from service.storage.models import Job, Tenant


def _queued_job(settings) -> str:
    with session_factory(settings.database_url)() as session:
        create_key(session, "acme")
        tenant_id = session.scalar(select(Tenant.id))
        plan = load_graph({"inputs": ["x", "y"], "gates": [{"id": "f", "op": "mul", "inputs": ["x", "y"]}]})
        graph = save_graph(session, tenant_id, plan)
        session.commit()
        bound = JobInputs(np.array([[2.0], [3.0]]), np.array([[1.0]]), False)
        values = job_rows.new_job(tenant_id, graph.id, bound, False, None, None)
        return job_rows.insert_job(session, values, room=100).id


def test_claim_reads_the_job_and_fences_the_final_write(settings):
    job_id = _queued_job(settings)
    with get_engine(settings.database_url).connect() as conn:
        first = job_rows.claim(conn, job_id, job_rows.seconds_ago(60))
        assert first is not None and first.attempt == 1 and not first.batched
        assert job_rows.claim(conn, job_id, job_rows.seconds_ago(60)) is None  # running, heartbeat fresh
        taken_over = job_rows.claim(conn, job_id, job_rows.seconds_ago(-60))  # as if its heartbeat were stale
        assert taken_over is not None and taken_over.attempt == 2
        values, grads = np.array([[2.0], [3.0], [6.0]]), np.array([[3.0], [2.0], [1.0]])
        outputs, result = values[[2]], Evaluation(values, grads)
        assert not job_rows.succeed(conn, first, outputs, None, result, 16)  # the first attempt lost the job
        assert job_rows.succeed(conn, taken_over, outputs, None, result, 16)
    with session_factory(settings.database_url)() as session:
        job = session.get(Job, job_id)
        assert job.status == "succeeded" and job.attempts == 2 and job.finished_at >= job.started_at
        assert outputs_from_row(job.output_values, job.outputs, ["f"]) == {"f": np.array([6.0])}


def test_a_new_job_is_stored_with_every_value_it_was_given(settings):
    with session_factory(settings.database_url)() as session:
        create_key(session, "acme")
        tenant_id = session.scalar(select(Tenant.id))
        graph = save_graph(
            session, tenant_id, load_graph({"inputs": ["x"], "gates": [{"id": "f", "op": "add", "inputs": ["x", "x"]}]})
        )
        session.commit()
        bound = JobInputs(np.array([[2.0, 3.0]]), np.array([[1.0, 1.0]]), True)
        values = job_rows.new_job(tenant_id, graph.id, bound, True, "key-1", "digest-1", 60)
        job_rows.insert_job(session, values, room=1)
        stored = session.get(Job, values["id"])
        for column, value in values.items():
            stored_value = getattr(stored, column)
            if column in ("created_at", "enqueued_at"):  # SQLite hands datetimes back without their zone
                stored_value, value = stored_value.replace(tzinfo=None), value.replace(tzinfo=None)
            assert stored_value == value, column
