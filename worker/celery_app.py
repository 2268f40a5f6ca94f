"""The worker's Celery app, configured from the environment; ``celery -A worker.celery_app worker`` runs it.

The configuration is the job queue's (``service.runtime.job_queue.make_celery``), shared with the API,
which publishes with an app of its own; this one also loads the worker's tasks and sweeper.
"""

from __future__ import annotations

from service.runtime.config import Settings
from service.runtime.job_queue import make_celery

app = make_celery(Settings.from_env())
app.conf.include = ["worker.tasks", "worker.sweeper"]
