"""The worker's Prometheus metrics: job stage durations, results written, jobs ended and expired, webhook attempts.

They reach /metrics through prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
shared with the API on one machine, as `gategraph serve` does), or through the worker's own
endpoint on WORKER_METRICS_PORT.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STAGE_SECONDS = Histogram(
    "gategraph_job_stage_seconds",
    "Time of each stage of a job.",
    ["stage"],
    buckets=(0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RESULT_ROWS = Counter("gategraph_result_rows_written_total", "Rows of node results written (chunks of nodes).")
RESULT_NODES = Counter("gategraph_result_nodes_written_total", "Nodes whose value and gradient were stored.")
JOBS_ENDED = Counter("gategraph_jobs_ended_total", "Jobs this worker brought to an end, by outcome.", ["status"])
WEBHOOK_ATTEMPTS = Counter(
    "gategraph_webhook_attempts_total",
    "Webhook delivery attempts, by what followed (delivered, pending: to be retried, failed: given up, canceled: 410).",
    ["outcome"],
)
JOBS_EXPIRED = Counter("gategraph_jobs_expired_total", "Jobs deleted with their results once past expires_at.")
