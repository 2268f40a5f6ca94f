"""lz4 compression for the large columns on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

PostgreSQL compresses large values with pglz by default; lz4 is several times faster to
write and read for the plan blobs, id chunks and job outputs (measured in BENCHMARKS.md).
SQLite has no such setting: nothing to do there.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = [
    ("graphs", "plan"),
    ("graphs", "outputs"),
    ("graph_chunks", "ids"),
    ("graph_buckets", "entries"),
    ("jobs", "inputs"),
    ("jobs", "outputs"),
]


def _set(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}')


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("pglz")
