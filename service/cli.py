"""The `gategraph` command: run the service, manage the schema and API keys."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from service.runtime.config import Settings
from service.runtime.job_states import CANCELED, FAILED, QUEUED, SUCCEEDED


@click.group()
@click.version_option(package_name="gategraph", message="gategraph %(version)s")
def main() -> None:
    """gategraph: forward values and gradients of add/multiply gate graphs, as a service."""


@main.command()
@click.option("--workers", default=2, show_default=True, help="API processes and worker processes.")
def serve(workers: int) -> None:
    """Start API and worker on the embedded default (SQLite, embedded Redis) unless configured otherwise."""
    from service.embedded import serve as run

    run(Settings.from_env(), workers)


@main.command()
@click.option("--concurrency", default=None, type=int, help="Worker processes (default: one per core; deliveries 8).")
@click.option("--deliveries", is_flag=True, help="Post webhook deliveries (their own queue, threads), not jobs.")
def worker(concurrency: int | None, deliveries: bool) -> None:
    """Start a Celery worker (BROKER_URL and DATABASE_URL from the environment)."""
    settings = Settings.from_env()
    from service.runtime.job_queue import delivery_worker_command, worker_command

    if deliveries:
        command = delivery_worker_command(settings, settings.log_level, concurrency or 8)
    else:
        command = worker_command(settings.queue, settings.log_level, concurrency)
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


def _session():
    from service.storage.database import session_factory

    return session_factory(Settings.from_env().database_url)()


@keys.command("create")
@click.argument("tenant")
@click.option("--label", default=None, help="A note to recognise the key by.")
def keys_create(tenant: str, label: str | None) -> None:
    """Create an API key for TENANT (created if new) and print it, once."""
    from service.storage.keys import create_key

    with _session() as session:
        click.echo(create_key(session, tenant, label))


@keys.command("list")
def keys_list() -> None:
    """List keys by tenant: key id, label, created, revoked (never the key)."""
    from service.storage.keys import list_keys

    with _session() as session:
        for key in list_keys(session):
            state = f"revoked {key.revoked_at}" if key.revoked_at else "active"
            click.echo(f"{key.tenant}\t{key.key_id}\t{key.label or ''}\t{key.created_at}\t{state}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (the part after gg_, as `keys list` shows)."""
    from service.storage.keys import revoke_key

    with _session() as session:
        if not revoke_key(session, key_id):
            raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


@main.command()
@click.option("--tenant", default=None, help="Only this tenant.")
def usage(tenant: str | None) -> None:
    """What each tenant keeps: jobs by state, and the numbers its results hold (values, gradients, tangents)."""
    from service.runtime.job_states import JOB_STATES
    from service.storage.job_reads import tenant_usage

    with _session() as session:
        rows = [u for u in tenant_usage(session) if tenant is None or u.tenant == tenant]
    click.echo("\t".join(["tenant", *JOB_STATES, "stored_numbers"]))
    for row in rows:
        click.echo("\t".join([row.tenant, *(str(row.jobs.get(s, 0)) for s in JOB_STATES), str(row.stored_numbers)]))


# The client side, for scripts: talks to a running service over HTTP.

_url = click.option(
    "--url",
    envvar="GATEGRAPH_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The service (env GATEGRAPH_URL).",
)
_key = click.option("--key", envvar="GATEGRAPH_API_KEY", required=True, help="An API key (env GATEGRAPH_API_KEY).")


SUBMIT_WAIT = 5  # seconds `submit --wait` lets the submission itself wait, before showing a progress bar


def _client(url: str, key: str):
    from service.client import Client

    # a refused connection is most often a wrong URL: one retry, then say so (in well under 2 s)
    return Client(url, key, connect_retries=1, backoff=0.25)


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2))


@main.command()
@click.argument("graph_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--inputs",
    "inputs_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON (an object of input: value, or {inputs, output_grads, tangents}) "
    "or CSV (one column per input, a row per assignment).",
)
@click.option("--check-gradients", is_flag=True, help="Also compare gradients with finite differences.")
@click.option("--wait", is_flag=True, help="Wait for the job to end, with a progress bar; exit 1 if it fails.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds.")
@click.option("--ttl", type=int, default=None, help="Keep the job this many seconds after it ends (default: JOB_TTL).")
@_url
@_key
def submit(
    graph_file: Path,
    inputs_file: Path,
    check_gradients: bool,
    wait: bool,
    timeout: float | None,
    ttl: int | None,
    url: str,
    key: str,
) -> None:
    """Submit GRAPH_FILE (a definition, or a graph id in a .txt file) with the inputs of --inputs."""
    from service.cli_files import read_graph, read_inputs

    inputs, output_grads, tangents = read_inputs(inputs_file)
    client = _client(url, key)
    # with --wait a fast job comes back ended in the submission's own answer (Prefer: wait)
    first_wait = min(SUBMIT_WAIT, timeout) if wait and timeout is not None else SUBMIT_WAIT if wait else 0
    graph = read_graph(graph_file)
    job = _api(
        lambda: client.submit(
            graph, inputs, output_grads, check_gradients, tangents=tangents, wait=first_wait, ttl_seconds=ttl
        )
    )
    if not wait:
        _echo_json(job)
        return
    if job["status"] in (SUCCEEDED, FAILED, CANCELED):
        _echo_json(job)
        if job["status"] != SUCCEEDED:
            raise SystemExit(1)
        return
    _finish(client, job["id"], timeout)


@main.command()
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Wait for the job to end, with a progress bar; exit 1 if it fails.")
@click.option("--timeout", type=float, default=None)
@_url
@_key
def status(job_id: str, wait: bool, timeout: float | None, url: str, key: str) -> None:
    """Show a job (exit 1 if it failed or was canceled)."""
    client = _client(url, key)
    if wait:
        _finish(client, job_id, timeout)
        return
    job = _api(lambda: client.job(job_id))
    _echo_json(job)
    if job["status"] in (FAILED, CANCELED):
        raise SystemExit(1)


@main.command()
@click.argument("job_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv", "arrow", "json"]),
    default="ndjson",
    show_default=True,
    help="JSON lines (json is the same), CSV, or an Apache Arrow IPC stream.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file, not standard output."
)
@_url
@_key
def nodes(job_id: str, fmt: str, output: Path | None, url: str, key: str) -> None:
    """Every node of a succeeded job, streamed from /results: JSON lines, CSV or Arrow.

    CSV columns: id, kind, op (gates only), value, grad, and tangent, grad_tangent for a job with a direction;
    a batch has an item column after op and one row per node and item. A progress bar shows on a terminal.
    """
    from service.cli_files import stream_to

    fmt = "ndjson" if fmt == "json" else fmt
    if fmt == "arrow" and output is None and sys.stdout.isatty():
        raise click.ClickException("an Arrow stream is binary: give -o FILE, or redirect standard output")
    client = _client(url, key)
    _api(lambda: stream_to(client.results(job_id, fmt), output, _stderr_console()))


@main.command()
@click.argument("job_id")
@click.option("-n", "count", default=10, show_default=True, help="How many nodes.")
@_url
@_key
def top(job_id: str, count: int, url: str, key: str) -> None:
    """The nodes the loss is most sensitive to: largest |gradient| first (node, kind, op of a gate, value, grad)."""
    from rich.console import Console
    from rich.table import Table

    items = _api(lambda: _client(url, key).top(job_id, count))
    table = Table("node", "kind", "op", "value", "grad")
    for item in items:
        table.add_row(item["id"], item["kind"], item.get("op", ""), str(item["value"]), str(item["grad"]))
    Console().print(table)


def _finish(client, job_id: str, timeout: float | None) -> None:
    """Wait with a progress bar; print the job; exit 1 unless it succeeded."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("job {task.fields[job]} [bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True, console=_stderr_console()) as bar:
        task = bar.add_task(QUEUED, total=1.0, job=job_id[:8])

        def show(job: dict) -> None:
            label = job["status"] + (f" ({job['stage']})" if job.get("stage") else "")
            bar.update(
                task, description=label, completed=job.get("progress") or (1.0 if job["status"] == SUCCEEDED else 0.0)
            )

        try:
            job = _api(lambda: client.wait(job_id, timeout, show))
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from None
    _echo_json(job)
    if job["status"] != SUCCEEDED:
        raise SystemExit(1)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _api(call):
    """Run a client call; an error answer or an unreachable service becomes a one-line CLI error."""
    import requests

    from service.client import ApiError

    try:
        return call()
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    except requests.ConnectionError:
        url = click.get_current_context().params.get("url")
        click.echo(
            f"Error: cannot reach gategraph at {url}: is it running there? Set GATEGRAPH_URL (or --url) "
            "to the URL `gategraph serve` printed.",
            err=True,
        )
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
