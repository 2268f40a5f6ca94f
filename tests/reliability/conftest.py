from tests.e2e.conftest import broker_url, stack_app, start_worker, worker_env  # noqa: F401  (shared fixtures)
