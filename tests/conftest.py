"""Shared fixtures: real databases (SQLite file and PostgreSQL), real Redis, the app, keys.

Every database-backed test runs on both the embedded default (SQLite) and PostgreSQL.
PostgreSQL gets a fresh database per test session; tables are emptied between tests.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import text

from service.runtime.config import Settings
from service.storage.database import dispose_all, get_engine, session_factory
from service.storage.migrate import upgrade
from service.storage.models import Base

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEYS = Fernet.generate_key().decode()  # WEBHOOK_SECRET_KEYS of every test stack
# Counted in Redis like any other (the limiter runs in every test), but no test of something else
# sends requests fast enough to meet it; tests/api/test_rate_limits.py sets its own.
TEST_RATE_LIMIT = "100000/second"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _fresh_pg_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    """A migrated database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gategraph.sqlite'}"
        upgrade(url)
        yield url
    else:
        name = f"gategraph_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = _fresh_pg_database(name)
        upgrade(url)
        yield url
        dispose_all()
        _drop_pg_database(name)


def empty_tables(url: str) -> None:
    with get_engine(url).begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture(scope="session")
def queue_name() -> str:
    name = f"gategraph-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    yield name
    redis.Redis.from_url(REDIS_URL).delete(name, f"{name}-webhooks")


@pytest.fixture
def settings(database_url, queue_name, tmp_path) -> Settings:
    empty_tables(database_url)
    return Settings(
        home=str(tmp_path),
        database_url=database_url,
        broker_url=REDIS_URL,
        queue=queue_name,
        webhook_secret_keys=SECRET_KEYS,
        rate_limit=TEST_RATE_LIMIT,
    )


@pytest.fixture
def make_app():
    from service.api.app_factory import create_app

    def build(settings: Settings, check_migrations: bool = True, **changes):
        return create_app(replace(settings, **changes), check_migrations=check_migrations)

    return build


@pytest.fixture
def app(settings, make_app):
    return make_app(settings)


@pytest.fixture
def keys(settings) -> dict[str, str]:
    """An API key for each of two tenants."""
    from service.storage.keys import create_key

    with session_factory(settings.database_url)() as session:
        return {"acme": create_key(session, "acme"), "other": create_key(session, "other")}


class Client:
    """Flask's test client with a tenant's key on every request."""

    def __init__(self, flask_client, key: str | None):
        self.raw, self.key = flask_client, key

    def _headers(self, headers):
        merged = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        merged.update(headers or {})
        return merged

    def get(self, url, headers=None, **kw):
        return self.raw.get(url, headers=self._headers(headers), **kw)

    def post(self, url, headers=None, **kw):
        return self.raw.post(url, headers=self._headers(headers), **kw)

    def delete(self, url, headers=None, **kw):
        return self.raw.delete(url, headers=self._headers(headers), **kw)


@pytest.fixture
def client(app, keys) -> Client:
    return Client(app.test_client(), keys["acme"])


@pytest.fixture
def other(app, keys) -> Client:
    return Client(app.test_client(), keys["other"])


@pytest.fixture
def anonymous(app) -> Client:
    return Client(app.test_client(), None)


@pytest.fixture
def example() -> dict:
    import json

    path = SHARED / "examples" / "cs231n.json"
    if not path.exists():
        path = Path(__file__).parent / "data" / "cs231n.json"
    return json.loads(path.read_text())


# CI runs are reproducible: Hypothesis explores the same examples every run there.
from hypothesis import settings as _hypothesis_settings  # noqa: E402 - after the fixtures, which need no Hypothesis

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")
