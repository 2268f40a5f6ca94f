"""The worker's runner, in-process on both databases.

Small jobs on a cached plan run inside their claim's transaction; failing fails only the running attempt.
"""

import pytest

import worker.runner as runner
from service.storage.database import session_factory
from service.storage.models import Job
from service.storage.plan_cache import PlanCache


@pytest.fixture
def graph_id(client, example):
    return client.post("/v1/graphs", json=example["graph"]).get_json()["id"]


def submit(client, graph_id, example) -> str:
    return client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": example["inputs"]}).get_json()["id"]


def row(settings, job_id) -> Job:
    with session_factory(settings.database_url)() as session:
        return session.get(Job, job_id)


def test_the_first_job_loads_the_plan_and_later_ones_run_at_once(client, graph_id, example, settings, monkeypatch):
    plans = PlanCache(4)
    at_once = []
    real = runner._run_at_once
    monkeypatch.setattr(runner, "_run_at_once", lambda *a: at_once.append(real(*a)) or at_once[-1])
    for _ in range(3):
        job_id = submit(client, graph_id, example)
        assert runner.run(settings, job_id, plans) == "succeeded"
        job = row(settings, job_id)
        assert job.status == "succeeded" and job.attempts == 1 and job.started_at <= job.finished_at
        assert client.get(f"/v1/jobs/{job_id}").get_json()["outputs"] == {"f": -12.0}
    assert at_once == [None, "succeeded", "succeeded"]  # not cached yet, then at once


def test_a_failure_while_running_at_once_is_run_again_the_usual_way(client, graph_id, example, settings, monkeypatch):
    plans = PlanCache(4)
    assert runner.run(settings, submit(client, graph_id, example), plans) == "succeeded"  # caches the plan
    calls = []
    real_evaluate = runner.evaluate

    def fails_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected")
        return real_evaluate(*args)

    monkeypatch.setattr(runner, "evaluate", fails_once)
    job_id = submit(client, graph_id, example)
    assert runner.run(settings, job_id, plans) == "succeeded"
    assert len(calls) == 2 and row(settings, job_id).attempts == 1  # the rolled-back claim did not count


def test_a_job_that_always_fails_ends_failed_with_a_reason(client, graph_id, example, settings, monkeypatch):
    plans = PlanCache(4)
    assert runner.run(settings, submit(client, graph_id, example), plans) == "succeeded"

    def broken(*_args):
        raise RuntimeError("injected")

    monkeypatch.setattr(runner, "evaluate", broken)
    job_id = submit(client, graph_id, example)
    assert runner.run(settings, job_id, plans) == "internal_error"
    body = client.get(f"/v1/jobs/{job_id}").get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "internal_error"


def test_a_large_job_on_a_cached_plan_runs_the_usual_way(client, settings, monkeypatch):
    n = runner.AT_ONCE_CELLS  # nodes x batch over the bound
    gates = [{"id": "g0", "op": "add", "inputs": ["x", "x"]}] + [
        {"id": f"g{i}", "op": "add", "inputs": [f"g{i - 1}", "x"]} for i in range(1, n)
    ]
    graph_id = client.post("/v1/graphs", json={"inputs": ["x"], "gates": gates}).get_json()["id"]
    plans = PlanCache(4)
    at_once = []
    real = runner._run_at_once
    monkeypatch.setattr(runner, "_run_at_once", lambda *a: at_once.append(real(*a)) or at_once[-1])
    for _ in range(2):
        job_id = client.post(f"/v1/graphs/{graph_id}/jobs", json={"inputs": {"x": 1}}).get_json()["id"]
        assert runner.run(settings, job_id, plans) == "succeeded"
    assert at_once == [None, None]
    assert client.get(f"/v1/jobs/{job_id}/nodes/g{n - 1}").get_json()["value"] == n + 1


def test_a_redelivered_or_retried_job_runs_the_usual_way_so_its_attempts_count(
    client, graph_id, example, settings, monkeypatch
):
    """A job whose run killed its worker must not run at once again: its attempts would never count."""
    plans = PlanCache(4)
    assert runner.run(settings, submit(client, graph_id, example), plans) == "succeeded"  # caches the plan
    at_once = []
    monkeypatch.setattr(runner, "_run_at_once", lambda *a: at_once.append(1))
    job_id = submit(client, graph_id, example)
    assert runner.run(settings, job_id, plans, redelivered=True) == "succeeded"
    assert at_once == [] and row(settings, job_id).attempts == 1


def test_the_soft_time_limit_while_running_at_once_fails_the_job_with_time_limit(
    client, graph_id, example, settings, monkeypatch
):
    class SoftLimit(Exception):
        pass

    plans = PlanCache(4)
    assert runner.run(settings, submit(client, graph_id, example), plans) == "succeeded"

    calls = []
    real_evaluate = runner.evaluate

    def over_time(*args):  # like Celery's soft limit: raised once, in the middle of the work
        calls.append(1)
        if len(calls) == 1:
            raise SoftLimit
        return real_evaluate(*args)

    monkeypatch.setattr(runner, "evaluate", over_time)
    job_id = submit(client, graph_id, example)
    assert runner.run(settings, job_id, plans, (SoftLimit,)) == "time_limit"
    job = row(settings, job_id)
    assert job.status == "failed" and job.error_code == "time_limit"
    assert job.attempts == 1 and calls == [1]  # not run again


def test_a_job_with_unreadable_inputs_ends_failed_instead_of_staying_queued(client, graph_id, example, settings):
    from sqlalchemy import update

    plans = PlanCache(4)
    assert runner.run(settings, submit(client, graph_id, example), plans) == "succeeded"
    job_id = submit(client, graph_id, example)
    with session_factory(settings.database_url)() as session:
        session.execute(update(Job).where(Job.id == job_id).values(inputs=b"GGI1"))  # cut short
        session.commit()
    assert runner.run(settings, job_id, plans) == "internal_error"
    assert row(settings, job_id).status == "failed"


def _claimed(settings, client, graph_id, example, task: str = "task-1") -> str:
    """A job claimed by attempt 1 in the Celery task ``task``, as a worker that is running it."""
    from service.storage import job_rows
    from service.storage.database import get_engine

    job_id = submit(client, graph_id, example)
    with get_engine(settings.database_url).connect() as connection:
        assert job_rows.claim(connection, job_id, job_rows.seconds_ago(60), task=task).attempt == 1
    return job_id


def test_fail_attempt_fails_only_the_running_attempt(client, graph_id, example, settings):
    job_id = _claimed(settings, client, graph_id, example)
    assert runner.fail_attempt(settings, job_id, 2, "time_limit", "over") is False  # another attempt's
    assert row(settings, job_id).status == "running"
    assert runner.fail_attempt(settings, job_id, 1, "time_limit", "over") is True
    job = row(settings, job_id)
    assert (job.status, job.error_code, job.error_message) == ("failed", "time_limit", "over")
    assert runner.fail_attempt(settings, job_id, 1, "time_limit", "over") is False  # already ended


def test_fail_killed_says_false_when_the_job_ended_between_its_read_and_its_write(
    client, graph_id, example, settings, monkeypatch
):
    """It used to compare the failing helper's return with the code, which was always equal: True either way."""
    from service.storage import job_rows

    job_id = _claimed(settings, client, graph_id, example)
    read_running = job_rows.running_claimed_by

    def canceled_right_after_the_read(session, task):
        running = read_running(session, task)
        assert client.post(f"/v1/jobs/{running[0]}/cancel").status_code == 200
        return running

    monkeypatch.setattr(job_rows, "running_claimed_by", canceled_right_after_the_read)
    assert runner.fail_killed(settings, "task-1", "time_limit", "killed") is None
    assert row(settings, job_id).status == "canceled"


def test_fail_killed_fails_the_running_job_of_the_killed_task(client, graph_id, example, settings):
    other_task = _claimed(settings, client, graph_id, example, task="task-2")
    job_id = _claimed(settings, client, graph_id, example, task="task-1")
    assert runner.fail_killed(settings, "task-1", "time_limit", "killed") == job_id
    assert row(settings, job_id).error_code == "time_limit"
    assert row(settings, other_task).status == "running"  # another task's job
    assert runner.fail_killed(settings, "task-3", "time_limit", "killed") is None  # a task that claimed nothing
