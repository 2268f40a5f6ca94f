"""Schema migrations with Alembic: apply them, and refuse to run on an out-of-date schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations

from .database import get_engine


class SchemaOutOfDate(RuntimeError):
    """The database schema is not at the code's head revision."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(url: str) -> str | None:
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(url: str) -> None:
    """:raise SchemaOutOfDate: with the command that fixes it."""
    current, head = current_revision(url), head_revision(url)
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at revision {current or 'none'}, the code needs {head}: "
            "run `gategraph db upgrade` (with the same DATABASE_URL) and start again"
        )
