"""jobs: retention (ttl_seconds, expires_at), stored numbers, the claiming task; indexes for fair claims

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

SPEC.md "Sharing the service fairly": a job is kept until ``expires_at`` (set when it ends, from
its ``ttl_seconds``); workers claim the oldest queued job of the tenant with the fewest running,
which the (status, tenant_id, created_at) index serves, as it serves the per-tenant cap's count.
``claimed_by`` is the Celery task that claimed a running job: a job message names no job any
more, so the worker's main process finds the job of a task it killed by it.
Jobs that ended before this migration expire JOB_TTL after the first retention pass.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("ttl_seconds", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("expires_at", MOMENT, nullable=True))
        batch.add_column(sa.Column("stored_numbers", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.drop_index("ix_jobs_status")
        batch.create_index("ix_jobs_status_tenant_created", ["status", "tenant_id", "created_at"])
        batch.create_index("ix_jobs_expires_at", ["expires_at"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_expires_at")
        batch.drop_index("ix_jobs_status_tenant_created")
        batch.create_index("ix_jobs_status", ["status"])
        batch.drop_column("claimed_by")
        batch.drop_column("stored_numbers")
        batch.drop_column("expires_at")
        batch.drop_column("ttl_seconds")
