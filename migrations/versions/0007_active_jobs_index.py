"""jobs: the index of queued and running jobs is partial on PostgreSQL

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

The per-tenant cap's count, the turns and the claims read a tenant's active jobs. With the whole
(status, tenant_id, created_at) index, a planner without fresh statistics would scan a tenant's
whole history through another index instead (1.3 ms at 1,000 finished jobs, more as it grows).
The partial index holds only the active jobs. On PostgreSQL it is built CONCURRENTLY, outside a
transaction, so that submissions and claims go on while it builds; SQLite keeps the index whole
under its new name (its planner cannot match ``status = 'running'`` to the partial predicate).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ["status", "tenant_id", "created_at"]
ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index("ix_jobs_active", "jobs", COLUMNS, postgresql_where=ACTIVE, postgresql_concurrently=True)
            op.drop_index("ix_jobs_status_tenant_created", "jobs", postgresql_concurrently=True)
    else:
        op.create_index("ix_jobs_active", "jobs", COLUMNS)
        op.drop_index("ix_jobs_status_tenant_created", "jobs")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index("ix_jobs_status_tenant_created", "jobs", COLUMNS, postgresql_concurrently=True)
            op.drop_index("ix_jobs_active", "jobs", postgresql_concurrently=True)
    else:
        op.create_index("ix_jobs_status_tenant_created", "jobs", COLUMNS)
        op.drop_index("ix_jobs_active", "jobs")
