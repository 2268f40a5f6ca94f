"""Per-key rate limits and the per-tenant queue cap, answered as SPEC.md "Sharing the service fairly" says.

Flask-Limiter counts, with the limits library's moving window in Redis (the broker's, unless
RATE_LIMIT_STORAGE names another), so every API process shares one count per key. Written here,
because Flask-Limiter does not: the IETF draft's ``RateLimit-Policy`` and ``RateLimit`` fields
(draft-ietf-httpapi-ratelimit-headers; Flask-Limiter writes the older ``X-RateLimit-*`` ones) and
the 429 as a problem.

A burst: ``RATE_LIMIT=100/second`` with ``RATE_LIMIT_BURST=200`` is counted as 200 requests in any
2 seconds: the same rate on average, and up to 200 at once.

When the limiter's Redis is unreachable, each API process counts in its own memory (Flask-Limiter's
in-memory fallback: the limits are then per process, so multiplied by their number) and the
service keeps answering; it counts in Redis again once Redis answers, which it checks at growing
intervals. A Redis that stops answering costs each request at most STORAGE_TIMEOUT before that.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse

from service.runtime.config import Settings
from service.runtime.job_events import redis_url

from .problems import ApiProblem, problem_response

KEY_POLICY = "per-key"
QUEUE_POLICY = "queued-jobs"
QUEUE_RETRY_AFTER = 5  # seconds: jobs of a full tenant end and make room at the pace of the workers
STORAGE_TIMEOUT = 0.25  # seconds to connect to the limiter's Redis, or to wait for its answer
OFF = ("", "off", "none")


@dataclass(frozen=True)
class Rate:
    """At most ``quota`` requests in any ``window`` seconds."""

    quota: int
    window: int

    @property
    def policy(self) -> str:
        return f'"{KEY_POLICY}";q={self.quota};w={self.window}'


def key_rate(settings: Settings) -> Rate | None:
    """RATE_LIMIT with its burst, as one moving window; None when rate limiting is off.

    :raise SystemExit: RATE_LIMIT is not a rate the limits library reads.
    """
    if settings.rate_limit.strip().lower() in OFF:
        return None
    try:
        item = parse(settings.rate_limit)
    except ValueError:
        shown = settings.rate_limit
        raise SystemExit(f"configuration: RATE_LIMIT={shown!r} is not a rate such as 100/second") from None
    quota, window = item.amount, item.get_expiry()
    if settings.rate_limit_burst > quota:  # stretch the window until it holds the burst, at the same rate
        window = max(window, math.ceil(settings.rate_limit_burst * window / quota))
        quota = settings.rate_limit_burst
    return Rate(quota, window)


def storage_uri(settings: Settings) -> str:
    """The limits library's URI of the limiter's Redis: RATE_LIMIT_STORAGE, else the broker's.

    A unix socket is ``redis+socket://`` to Celery, ``unix://`` to redis-py, ``redis+unix://`` to limits.
    """
    if settings.rate_limit_storage:
        return settings.rate_limit_storage
    url = redis_url(settings.broker_url)
    return "redis+" + url if url.startswith("unix://") else url


def _caller_key() -> str:
    """The API key of the request, hashed (never stored in Redis in the clear); the address without one.

    The whole key is hashed, not only its id, so a wrong secret never spends a real key's requests.
    """
    scheme, _, key = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and key:
        return "key:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]
    return f"address:{request.remote_addr}"


def init_rate_limits(app: Flask, settings: Settings) -> Limiter | None:
    """Limit every /v1 request per key (health, metrics, docs and the document are not); None when off."""
    rate = key_rate(settings)
    if rate is None:
        return None
    limiter = Limiter(
        _caller_key,
        app=app,
        default_limits=[f"{rate.quota} per {rate.window} second"],
        storage_uri=storage_uri(settings),
        storage_options={"socket_timeout": STORAGE_TIMEOUT, "socket_connect_timeout": STORAGE_TIMEOUT},
        strategy="moving-window",
        key_prefix="gategraph",
        headers_enabled=False,  # the IETF fields are written below
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.request_filter(lambda: not request.path.startswith("/v1/"))

    @app.errorhandler(RateLimitExceeded)
    def _too_many(_error: RateLimitExceeded) -> Response:
        return problem_response(_rate_exceeded(limiter, rate))

    @app.after_request
    def _policy(response: Response) -> Response:
        if request.path.startswith("/v1/"):
            response.headers.add("RateLimit-Policy", rate.policy)
        return response

    return limiter


def _rate_exceeded(limiter: Limiter, rate: Rate) -> ApiProblem:
    """429 for a key over its rate: retry when the oldest request in the window leaves it."""
    seconds = rate.window
    breached = limiter.current_limit
    if breached is not None:
        try:
            seconds = math.ceil(breached.window.reset_time - time.time())
        except Exception:  # noqa: BLE001 - the storage went away since the count: wait a whole window
            seconds = rate.window
    seconds = max(1, min(rate.window, seconds))
    detail = f"this API key sent more than {rate.quota} requests in {rate.window} s (RATE_LIMIT); retry in {seconds} s"
    headers = {"Retry-After": str(seconds), "RateLimit": f'"{KEY_POLICY}";r=0;t={seconds}'}
    return ApiProblem(429, "Too many requests", detail, headers=headers, type_="rate-limited")


def queue_full(most: int) -> ApiProblem:
    """429 for a tenant with MAX_QUEUED_PER_TENANT jobs queued or running."""
    detail = (
        f"this tenant has {most} jobs queued or running, the limit MAX_QUEUED_PER_TENANT={most}; "
        "submit more as they end"
    )
    headers = {
        "Retry-After": str(QUEUE_RETRY_AFTER),
        "RateLimit-Policy": f'"{QUEUE_POLICY}";q={most}',
        "RateLimit": f'"{QUEUE_POLICY}";r=0;t={QUEUE_RETRY_AFTER}',
    }
    return ApiProblem(429, "Too many requests", detail, headers=headers, type_="queue-full")
