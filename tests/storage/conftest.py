"""Fixtures of the storage tests: queued jobs of named tenants, straight through ``job_rows``."""

import numpy as np
import pytest
from sqlalchemy import select

from service.graph import JobInputs, load_graph
from service.storage import job_rows
from service.storage.database import session_factory
from service.storage.graph_rows import save_graph
from service.storage.keys import create_key
from service.storage.models import Tenant


@pytest.fixture
def submit(settings):
    """submit(tenant, **job) -> a new queued job's id, on a one-gate graph of that tenant."""
    graphs: dict[str, str] = {}

    def queue(tenant: str, key: str | None = None, ttl: int | None = 3600) -> str:
        with session_factory(settings.database_url)() as session:
            if tenant not in graphs:
                create_key(session, tenant)
                tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == tenant))
                plan = load_graph({"inputs": ["x"], "gates": [{"id": "f", "op": "add", "inputs": ["x", "x"]}]})
                graphs[tenant] = save_graph(session, tenant_id, plan).id
                session.commit()
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.name == tenant))
            bound = JobInputs(np.array([[1.0]]), np.array([[1.0]]), False)
            values = job_rows.new_job(tenant_id, graphs[tenant], bound, False, key, key and "digest", ttl)
            return job_rows.insert_job(session, values, room=100).id

    return queue
