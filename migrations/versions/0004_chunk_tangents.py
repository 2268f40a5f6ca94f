"""job_chunks.tangents and job_chunks.grad_tangents: each node's derivatives along a job's direction

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Filled for jobs that were given ``tangents`` (SPEC.md "Directions and curvature"), NULL for the
others, so the rows of every job written before stay as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_chunks", sa.Column("tangents", sa.LargeBinary(), nullable=True))
    op.add_column("job_chunks", sa.Column("grad_tangents", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_chunks") as batch:
        batch.drop_column("grad_tangents")
        batch.drop_column("tangents")
