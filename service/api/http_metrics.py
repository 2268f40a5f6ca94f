"""/metrics in the Prometheus format (prometheus-client), and the per-request bookkeeping behind it.

Requests are counted by route template (``/v1/jobs/<uuid:job_id>``), never by raw path, so ids do
not explode the label space. Jobs by state and the queue depth are read when Prometheus scrapes.
With PROMETHEUS_MULTIPROC_DIR set (``gategraph serve`` sets it), the numbers of every gunicorn
process and of the worker's job-stage timings are aggregated, as prometheus-client's multiprocess
mode does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from celery import Celery
from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from service.runtime.job_queue import queue_length
from service.runtime.job_states import JOB_STATES
from service.runtime.metrics_registry import process_registry
from service.storage.database import session_factory
from service.storage.job_reads import job_counts, stored_numbers

log = logging.getLogger("gategraph.api")
blp = Blueprint("metrics", __name__)

REQUESTS = Counter("gategraph_http_requests_total", "HTTP requests by route and status.", ["method", "route", "status"])
LATENCY = Histogram(
    "gategraph_http_request_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class _StateCollector:
    """Jobs by state, stored numbers and messages waiting, asked of the database and the broker at scrape time.

    Totals only: per tenant (``gategraph usage``) would be one series per tenant.
    """

    def __init__(self, database_url: str, celery: Celery):
        self.database_url, self.celery = database_url, celery

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("gategraph_jobs", "Jobs by state.", labels=["state"])
        try:
            with session_factory(self.database_url)() as session:
                counts, numbers = job_counts(session), stored_numbers(session)
            for state in JOB_STATES:
                jobs.add_metric([state], counts.get(state, 0))
            yield jobs
            yield GaugeMetricFamily(
                "gategraph_stored_numbers", "Values, gradients and tangents held by results.", value=numbers
            )
        except Exception:  # a scrape must not fail because one source is down
            log.warning("metrics: job counts unavailable", exc_info=True)
        depth = GaugeMetricFamily("gategraph_queue_depth", "Job messages waiting in the broker.")
        try:
            depth.add_metric([], queue_length(self.celery))
            yield depth
        except Exception:  # likewise: the queue depth is optional
            log.warning("metrics: queue depth unavailable", exc_info=True)


def start_timer() -> None:
    g.started = time.perf_counter()


def record(response: Response) -> Response:
    rule = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, rule, str(response.status_code)).inc()
    if "started" in g:
        LATENCY.labels(request.method, rule).observe(time.perf_counter() - g.started)
    return response


def state_registry(database_url: str, celery: Celery) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_StateCollector(database_url, celery))
    return registry


@blp.route("/metrics")
def metrics() -> Response:
    """Every process's numbers, then jobs by state and the queue depth."""
    states = current_app.extensions["gategraph"]["metrics"]
    return Response(
        generate_latest(process_registry()) + generate_latest(states), content_type=CONTENT_TYPE_LATEST
    )  # it names its charset
