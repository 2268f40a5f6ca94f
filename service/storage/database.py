"""Engines and sessions: one engine per process and URL, SQLite tuned for an API and a worker at once."""

from __future__ import annotations

import select
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

PING_AFTER_IDLE = 1.0  # seconds a pooled PostgreSQL connection may sit unused before it is tested again
IDLE_IN_TRANSACTION_TIMEOUT = 60.0  # seconds PostgreSQL lets a session sit in an open transaction doing nothing
_engines: dict[str, tuple[Engine, sessionmaker[Session]]] = {}
_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """The process's engine for ``url``, created on first use."""
    return _entry(url)[0]


def session_factory(url: str) -> sessionmaker[Session]:
    """Sessions on the process's engine for ``url``."""
    return _entry(url)[1]


def ping(session: Session) -> None:
    """One round trip to the database. :raise sqlalchemy.exc.OperationalError: it does not answer."""
    session.execute(text("SELECT 1"))


def dispose_all() -> None:
    """Close pooled connections and forget engines (after a fork; in tests that switch databases)."""
    with _lock:
        for engine, _ in _engines.values():
            engine.dispose()
        _engines.clear()


def _entry(url: str) -> tuple[Engine, sessionmaker[Session]]:
    with _lock:
        if url not in _engines:
            engine = _create(url)
            _engines[url] = (engine, sessionmaker(engine, expire_on_commit=False))
        return _engines[url]


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.drivername == "postgresql":  # psycopg 3, not psycopg2
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # A server that stops answering must not hang a request or a worker forever: bounded connect,
    # TCP keepalives to notice a dead peer. And a client that stops in the middle of a transaction
    # (a frozen process) must not hold its row locks forever: the server ends such a session.
    connect_args = {
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "options": f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION_TIMEOUT * 1000)}",
    }
    engine = create_engine(url, pool_size=5, max_overflow=10, connect_args=connect_args)
    _ping_when_idle(engine)
    return engine


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # WAL lets the API read while the worker writes; the busy timeout waits out short
        # write locks instead of failing with "database is locked".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection before use when it may be dead, not before every use.

    SQLAlchemy's ``pool_pre_ping`` makes a round trip on every checkout, a good part of a small
    request's cost. Here a connection is pinged when it sat unused for PING_AFTER_IDLE seconds,
    or when its socket has something to read while no query is running: that is how a server
    that closed it (a restart, a terminated backend) shows, and checking costs one poll, not a
    round trip. A ping that fails makes the pool open a new connection.
    """

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy) -> None:
        recently_used = time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE
        if recently_used and not _has_unread_data(dbapi_connection):
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # any failure means: use another connection
            raise DisconnectionError(str(exc)) from exc


def _has_unread_data(dbapi_connection) -> bool:
    try:
        poller = select.poll()  # not select.select: it fails on descriptors over 1023
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 - a closed connection's fileno() raises (psycopg.OperationalError): ping it
        return True
