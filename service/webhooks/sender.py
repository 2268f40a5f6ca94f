"""One delivery attempt of a webhook: a POST to the checked address, its outcome as an :class:`Attempt`.

Hand-written on top of urllib3's connection pools, because no kept library pins a connection to
a checked address: ``requests`` and urllib3's ``PoolManager`` take a URL and resolve its name
again when they connect (and ``requests`` also follows redirects and environment proxies), which
would undo the check of :mod:`service.webhooks.targets`. A pool is made per attempt for the
checked IP address, while TLS is still sent (SNI) and verified against the host name of the URL,
and the Host header names it too.

The rules of a delivery: no redirects followed (a 3xx is only a status), no retries (the caller
schedules them), both timeouts at most 10 s, and no more than a few KB of the answer read before
the connection is closed. Network failures never raise; they are attempts with an error text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from .signing import USER_AGENT
from .targets import DEFAULT_PORTS, RefusedTarget, Target, resolve_target

MAX_TIMEOUT = 10.0
MAX_ERROR_LENGTH = 200


@dataclass(frozen=True)
class Attempt:
    status: int | None  # None when no answer came (or the target was refused)
    error: str | None  # why there is no answer, or why the target was refused
    seconds: float
    # The start of the answer body, at most max_answer_bytes of it; kept out of the repr so that
    # logging an attempt does not log kilobytes of someone else's answer.
    answer: bytes = field(default=b"", repr=False)

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        # 410 is how a receiver says "stop sending": the caller may disable the webhook.
        return self.status == 410


def deliver(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    max_answer_bytes: int = 4096,
    ca_certs: str | None = None,
) -> Attempt:
    """Check and resolve ``url`` again, then :func:`post` to it; a refused URL is never connected to."""
    try:
        target = resolve_target(url, allow_private)
    except RefusedTarget as exc:
        return Attempt(None, f"refused: {exc}", 0.0)
    return post(
        target,
        body,
        headers,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_answer_bytes=max_answer_bytes,
        ca_certs=ca_certs,
    )


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    max_answer_bytes: int = 4096,
    ca_certs: str | None = None,
) -> Attempt:
    """POST ``body`` to ``target.address`` (the name is not resolved again) and report what happened."""
    timeout = _timeout(connect_timeout, read_timeout)
    started = time.monotonic()
    pool = _pool(target, timeout, ca_certs)
    try:
        status, answer = _exchange(pool, target, body, _headers(target, headers), max_answer_bytes, timeout)
    except (HTTPError, OSError) as exc:
        return Attempt(None, _describe(exc, timeout), time.monotonic() - started)
    finally:
        pool.close()
    return Attempt(status, None, time.monotonic() - started, answer)


def _timeout(connect: float, read: float) -> urllib3.Timeout:
    if not (connect > 0 and read > 0):
        raise ValueError("webhook timeouts must be positive")
    return urllib3.Timeout(connect=min(connect, MAX_TIMEOUT), read=min(read, MAX_TIMEOUT))


def _pool(target: Target, timeout: urllib3.Timeout, ca_certs: str | None) -> urllib3.HTTPConnectionPool:
    # maxsize=1 and a pool per attempt: the connection is never shared with another target.
    common = {"timeout": timeout, "maxsize": 1, "retries": False}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or _default_ca_certs(),
            **common,
        )
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(target.address, target.port, **common)
    raise ValueError(f"webhook targets use https or http, not {target.scheme!r}")


def _default_ca_certs() -> str | None:
    try:
        import certifi
    except ImportError:
        return None  # urllib3 then loads the system's certificate store
    return certifi.where()


def _headers(target: Target, headers: dict[str, str]) -> dict[str, str]:
    # The Host header is ours: it must name the host that was checked, not whatever the caller says.
    kept = {name: value for name, value in headers.items() if name.lower() not in ("host", "connection")}
    if not any(name.lower() == "user-agent" for name in kept):
        kept["user-agent"] = USER_AGENT  # else urllib3 would announce itself
    return kept | {"host": _host_header(target), "connection": "close"}


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == DEFAULT_PORTS.get(target.scheme) else f"{host}:{target.port}"


def _exchange(
    pool: urllib3.HTTPConnectionPool,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    max_answer_bytes: int,
    timeout: urllib3.Timeout,
) -> tuple[int, bytes]:
    response = pool.urlopen(
        "POST",
        target.path,
        body=body,
        headers=headers,
        retries=False,
        redirect=False,
        preload_content=False,
        release_conn=False,
    )
    try:
        return response.status, _read_answer(response, max_answer_bytes, timeout.read_timeout or MAX_TIMEOUT)
    finally:
        # Closes the connection itself, so the rest of a long answer is never read.
        response.close()


def _read_answer(response: urllib3.BaseHTTPResponse, limit: int, read_timeout: float) -> bytes:
    # read1 returns what has arrived, and the deadline bounds a receiver that trickles its answer
    # byte by byte (each byte within the read timeout); the raw bytes are kept so that a
    # compressed answer cannot expand beyond the limit.
    deadline = time.monotonic() + read_timeout
    answer = bytearray()
    try:
        while len(answer) < limit and time.monotonic() < deadline:
            piece = response.read1(limit - len(answer), decode_content=False)
            if not piece:
                break
            answer += piece
    except (HTTPError, OSError):
        pass  # the status has arrived and decides the outcome; a broken answer body changes nothing
    return bytes(answer)


def _describe(exc: BaseException, timeout: urllib3.Timeout) -> str:
    # NewConnectionError is a subclass of ConnectTimeoutError, so it is asked about first.
    if isinstance(exc, NewConnectionError):
        return _connection_failure(exc)
    if isinstance(exc, ConnectTimeoutError):
        return f"connect timed out after {timeout.connect_timeout:g} s"
    if isinstance(exc, ReadTimeoutError):
        return f"timed out after {timeout.read_timeout:g} s"
    if isinstance(exc, SSLError):
        return _short(f"TLS error: {_reason(exc)}")
    if isinstance(exc, ProtocolError):
        return _short(f"connection broken: {_reason(exc)}")
    return _short(f"{type(exc).__name__}: {exc}")


def _connection_failure(exc: NewConnectionError) -> str:
    cause = exc.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return _short(f"could not connect: {cause.strerror}")
    return _short(f"could not connect: {cause or exc}")


def _reason(exc: BaseException) -> str:
    """The innermost useful text: urllib3 wraps the ssl or http.client error as its last argument."""
    inner = next((arg for arg in reversed(exc.args) if isinstance(arg, BaseException)), exc)
    return getattr(inner, "verify_message", None) or str(inner) or type(inner).__name__


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 3] + "..."
