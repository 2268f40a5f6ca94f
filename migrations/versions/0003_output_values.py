"""jobs.output_values: a job's output values as numbers, not as the API's JSON text

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The worker used to store the outputs as the JSON text of an answer; it now stores their
values (float64, the format of ``service.storage.job_blobs``) and the API renders them. Rows
written before keep their ``outputs`` text, which storage still reads, so nothing is rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("output_values", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("output_values")
