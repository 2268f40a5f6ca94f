"""Pooled PostgreSQL connections: a connection the server has closed is replaced before use, without a ping per use."""

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.storage.database import get_engine
from tests.conftest import PG_ADMIN


def test_a_connection_the_server_terminated_is_replaced_at_checkout():
    engine = get_engine(PG_ADMIN)
    with engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:  # as a server restart does to every backend
        assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
        for _ in range(100):  # the backend is gone once it no longer shows
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone():
                break
    with engine.connect() as conn:  # used a moment ago, but its socket says the server closed it
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != backend


def test_a_connection_in_steady_use_is_not_pinged_but_an_idle_one_is(monkeypatch):
    import service.storage.database as database

    engine = get_engine(PG_ADMIN)
    pings = []
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        real_execute = driver.execute
        monkeypatch.setattr(
            driver,
            "execute",
            lambda query, *a, **k: (pings.append(query), real_execute(query, *a, **k))[1],
            raising=False,
        )
    for _ in range(5):
        with engine.connect() as conn:
            assert conn.connection.driver_connection is driver  # the same pooled connection each time
            conn.execute(text("SELECT 2"))
    assert pings == []
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)  # as if it had sat unused
    with engine.connect() as conn:
        conn.execute(text("SELECT 2"))
    assert pings == ["SELECT 1"]


def test_a_session_frozen_inside_a_transaction_loses_its_locks(monkeypatch):
    """A worker stopped (SIGSTOP, swapped out) mid-transaction must not hold a job's row lock forever."""
    import time

    import service.storage.database as database

    monkeypatch.setattr(database, "IDLE_IN_TRANSACTION_TIMEOUT", 0.5)
    url = PG_ADMIN + "?application_name=frozen-test"  # a URL of its own: a new engine with the short timeout
    engine = get_engine(url)
    with engine.connect() as frozen:
        frozen.execute(text("CREATE TEMP TABLE t (x int)"))  # a transaction is open now; then nothing happens
        time.sleep(1.5)
        with pytest.raises(DBAPIError, match="idle-in-transaction"):  # the server ended the session
            frozen.execute(text("SELECT 1"))
