"""Job-ended events over Redis pub/sub, so that ``GET /v1/jobs/{id}?wait=`` answers the moment a job ends.

The database stays the only record of a job: an event only says "look again now". Whoever
ends a job (the worker, a cancel, the sweeper) publishes its id after the commit, best effort
(a failed publish is not retried, and after one the process skips publishing for
``PUBLISH_BACKOFF`` seconds, so a frozen Redis costs one timeout, not one per job); each API
process has one listener thread that wakes the requests waiting on that id. An event lost to
a Redis restart or a reconnect costs latency, never correctness: waiters still read the row
every ``SAFETY_POLL`` seconds, and poll as before (10 ms growing to 250 ms) whenever the
listener is not subscribed.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger("gategraph.events")

SAFETY_POLL = 1.0  # seconds between reads of the row while events flow
RECONNECT_PAUSE = 1.0  # seconds between attempts to subscribe again
SOCKET_TIMEOUT = 2.0  # the same bound as the broker's: a frozen Redis must not hold a worker
PUBLISH_BACKOFF = 5.0  # seconds without publishing after a failed publish


def channel_for(queue: str) -> str:
    """One channel per deployment (its queue name), so stacks sharing a Redis do not wake each other."""
    return f"{queue}:job-ended"


def redis_url(broker_url: str) -> str:
    """redis-py's URL for the broker's Redis (kombu spells a unix socket ``redis+socket://``)."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url[len("redis+socket://") :]
    return broker_url or "redis://127.0.0.1:6379/0"


class Publisher:
    """Publishes job-ended events; one client per process (created after a fork)."""

    def __init__(self, broker_url: str, queue: str):
        self.url, self.channel = redis_url(broker_url), channel_for(queue)
        self._client: redis.Redis | None = None
        self._pid = 0
        self._down_until = 0.0

    def ended(self, job_id: str) -> None:
        """Tell waiters that a job ended; never raises (waiters fall back to reading the row)."""
        if time.monotonic() < self._down_until:
            return
        try:
            if self._client is None or self._pid != os.getpid():
                self._client = redis.Redis.from_url(
                    self.url, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
                )
                self._pid = os.getpid()
            self._client.publish(self.channel, job_id)
        except (redis.RedisError, OSError):
            self._down_until = time.monotonic() + PUBLISH_BACKOFF
            log.debug("could not publish the end of job %s; waiters will see it by polling", job_id)


@functools.cache
def publisher(broker_url: str, queue: str) -> Publisher:
    """The process's publisher for a deployment (the worker's runner and sweeper share it)."""
    return Publisher(broker_url, queue)


class Listener:
    """One subscription per process; requests wait on it for the end of one job."""

    def __init__(self, broker_url: str, queue: str):
        self.url, self.channel = redis_url(broker_url), channel_for(queue)
        self._waiters: dict[str, set[threading.Event]] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._pid = 0  # the thread is started lazily, in the process that serves (gunicorn forks)

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    @contextmanager
    def watch(self, job_id: str) -> Iterator[Waiter]:
        """Register interest in ``job_id`` (before reading its row, so no event can slip between)."""
        self._start()
        ended = threading.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(ended)
        try:
            yield Waiter(ended, self._subscribed)
        finally:
            with self._lock:
                waiting = self._waiters.get(job_id)
                if waiting is not None:
                    waiting.discard(ended)
                    if not waiting:
                        del self._waiters[job_id]

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._subscribed.clear()
        threading.Thread(target=self._run, name="gategraph-job-events", daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                self._listen()
            except (redis.RedisError, OSError) as exc:
                log.debug("job events: %s; subscribing again in %g s", exc, RECONNECT_PAUSE)
            except Exception:  # this thread must live as long as its process
                log.exception("job events: unexpected error; subscribing again in %g s", RECONNECT_PAUSE)
            finally:
                self._subscribed.clear()
            time.sleep(RECONNECT_PAUSE)

    def _listen(self) -> None:
        tcp = {} if self.url.startswith("unix://") else {"socket_keepalive": True}  # a unix socket takes no keepalive
        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=None, health_check_interval=10, **tcp
        )
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            while True:
                message = pubsub.get_message(timeout=SAFETY_POLL)
                if message is None:
                    continue
                if message["type"] == "subscribe":  # Redis confirmed: from now on no event is missed
                    self._subscribed.set()
                elif message["type"] == "message":
                    self._wake(message["data"].decode(errors="replace"))
        finally:
            pubsub.close()
            client.close()

    def _wake(self, job_id: str) -> None:
        with self._lock:
            waiting = list(self._waiters.get(job_id, ()))
        for ended in waiting:
            ended.set()


class Waiter:
    """What a waiting request holds: sleep until the job's event, or until the next read of its row is due."""

    def __init__(self, ended: threading.Event, subscribed: threading.Event):
        self._ended, self._subscribed = ended, subscribed
        self._pause = 0.01

    def sleep(self, most: float) -> bool:
        """Sleep at most ``most`` seconds; True if the job's event came (and it is consumed)."""
        if self._subscribed.is_set():
            woken = self._ended.wait(min(most, SAFETY_POLL))
        else:  # no events: poll the row, 10 ms growing to 250 ms
            pause, self._pause = self._pause, min(self._pause * 1.5, 0.25)
            woken = self._ended.wait(min(most, pause))
        if woken:
            self._ended.clear()
        return woken
