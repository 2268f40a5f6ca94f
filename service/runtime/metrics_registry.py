"""Where Prometheus numbers are gathered, for the API's /metrics and the worker's own endpoint alike.

With PROMETHEUS_MULTIPROC_DIR set (``gategraph serve`` sets it), every process writes its numbers
to files there and a scrape aggregates them, as prometheus-client's multiprocess mode does;
otherwise a process serves its own.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector


def process_registry() -> CollectorRegistry:
    """Every gategraph process's numbers in multiprocess mode; this process's otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
