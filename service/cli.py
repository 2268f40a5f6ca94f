"""The `gategraph` command: run the service, manage the schema and API keys."""
from __future__ import annotations

import os
import sys

import click

from service.config import Settings


@click.group()
def main() -> None:
    """gategraph: forward values and gradients of add/multiply gate graphs, as a service."""


@main.command()
@click.option("--workers", default=2, show_default=True, help="API processes and worker processes.")
def serve(workers: int) -> None:
    """Start API and worker on the embedded default (SQLite, embedded Redis) unless configured otherwise."""
    from service.embedded import serve as run

    run(Settings.from_env(), workers)


@main.command()
@click.option("--concurrency", default=None, type=int, help="Worker processes (default: one per core).")
def worker(concurrency: int | None) -> None:
    """Start a Celery worker (BROKER_URL and DATABASE_URL from the environment)."""
    settings = Settings.from_env()
    command = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--loglevel", settings.log_level, "-Q", settings.queue]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    os.execv(sys.executable, command)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (Alembic) to DATABASE_URL."""
    from service.storage.migrate import head_revision, upgrade

    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo(f"database schema is at revision {head_revision(settings.database_url)}")


@main.group()
def keys() -> None:
    """API keys (stored hashed; a key is shown once, when created)."""


def _session():  # noqa: ANN202
    from service.storage.database import session_factory

    return session_factory(Settings.from_env().database_url)()


@keys.command("create")
@click.argument("tenant")
@click.option("--label", default=None, help="A note to recognise the key by.")
def keys_create(tenant: str, label: str | None) -> None:
    """Create an API key for TENANT (created if new) and print it, once."""
    from service.api.auth import create_key

    with _session() as session:
        click.echo(create_key(session, tenant, label))


@keys.command("list")
def keys_list() -> None:
    """List keys by tenant: key id, label, created, revoked (never the key)."""
    from service.api.auth import list_keys

    with _session() as session:
        for tenant, key_id, label, created, revoked in list_keys(session):
            click.echo(f"{tenant}\t{key_id}\t{label or ''}\t{created}\t{'revoked ' + revoked if revoked else 'active'}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (the part after gg_, as `keys list` shows)."""
    from service.api.auth import revoke_key

    with _session() as session:
        if not revoke_key(session, key_id):
            raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


if __name__ == "__main__":
    main()
