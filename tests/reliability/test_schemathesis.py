"""Schemathesis against the service's own OpenAPI document, in-process through the WSGI app.

Every operation of ``/openapi.json`` is fuzzed with valid and invalid requests (schemathesis's
examples, coverage and fuzzing phases), with a fixed seed and derandomized generation so a CI
run sends the same requests every time. Each answer must:

- not be a 5xx (``not_a_server_error``);
- have a status the document lists for the operation (``status_code_conformance``);
- have a content type the document lists for that status (``content_type_conformance``);
- match the documented schema (``response_schema_conformance``);
- when it is a 4xx, be ``application/problem+json`` with type, title, status and detail;
- when the request breaks the document's schema on purpose, be refused (``negative_data_rejection``).

Requests carry a real API key (the ``keys`` fixture). Path ids are random UUIDs (404s) or, for
most valid cases, the ids of a stored graph, a succeeded job and a queued one, so the fuzzer also
reaches the operations' 2xx answers; a delete or a cancel is followed by fresh ones. It runs on
both databases (PostgreSQL refuses text SQLite stores, such as NUL characters), in about 45 s each.
The last test prints how many requests were sent and the statuses seen per operation.
"""

from __future__ import annotations

import uuid
import zlib
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.preferences import prefer_wait
from service.runtime.config import Settings
from tests.api.helpers import complete

SEED = 20240613
DEFAULT_MAX_WAIT = Settings.max_wait  # the app of these tests keeps MAX_WAIT's default
MAX_EXAMPLES = 60  # per operation, in the fuzzing phase (the coverage phase adds its own, bounded, cases)
PROBLEM_JSON = "application/problem+json"
GRAPH = {
    "name": "fuzz-seed",
    "inputs": ["x", "y", "z"],
    "gates": [{"id": "q", "op": "add", "inputs": ["x", "y"]}, {"id": "f", "op": "mul", "inputs": ["q", "z"]}],
}
INPUTS = {"x": -2, "y": 5, "z": -4}

#: requests sent and answers by status class, over the whole module (reported at the end)
STATS: Counter = Counter()
SEEN: dict[str, Counter] = {}


@schemathesis.check
def problem_json_for_every_4xx(ctx, response, case) -> bool | None:
    """Every 4xx answer is an RFC 9457 problem: application/problem+json with type, title, status, detail."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = next((v[0] for k, v in response.headers.items() if k.lower() == "content-type"), "")
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, f"{response.status_code} answered with {content_type!r}"
    body = response.json()
    assert isinstance(body, dict), body
    missing = {"type", "title", "status", "detail"} - body.keys()
    assert not missing, f"problem without {sorted(missing)}: {body}"
    assert body["status"] == response.status_code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    return True


CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json_for_every_4xx,
    schemathesis.checks.negative_data_rejection,
]


PUBLIC_URL = "https://93.184.216.34/gategraph"  # a public address, so registration needs no DNS


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class Seeds:
    """A stored graph and a succeeded job of the fuzzing tenant, remade when the fuzzer deletes them."""

    def __init__(self, client, settings):
        self.client, self.settings = client, settings
        self.make()

    def make(self) -> None:
        job = self.client.post("/v1/jobs", json={"graph": GRAPH, "inputs": INPUTS}).get_json()
        assert complete(self.settings, job["id"]) == "succeeded"
        self.graph_id, self.job_id = job["graph_id"], job["id"]
        self.make_queued()
        self.webhook_id = self.client.post("/v1/webhooks", json={"url": PUBLIC_URL}).get_json()["id"]

    def make_queued(self) -> None:
        """A job left queued (no worker runs it), for cancel to reach its 200."""
        self.queued_id = self.client.post(f"/v1/graphs/{self.graph_id}/jobs", json={"inputs": INPUTS}).get_json()["id"]

    def aim(self, case) -> None:
        """Point three valid cases out of four at the stored ids (chosen by a hash of the case, so runs repeat).

        A path the fuzzer made invalid on purpose (not a UUID) is left alone: it must be refused.
        """
        self._no_waiting(case)
        params = case.path_parameters or {}
        salt = zlib.crc32(repr((sorted(params.items()), case.query, case.body)).encode())
        if isinstance(case.body, dict) and isinstance(case.body.get("url"), str) and salt % 4:
            case.body["url"] = PUBLIC_URL  # a random host name does not resolve here (no DNS): a 422 every time
        negative = case.meta is not None and case.meta.is_negative_at("path")
        ids = ("graph_id", "job_id", "webhook_id")
        if not params or negative or not all(_is_uuid(v) for k, v in params.items() if k in ids):
            return
        if salt % 4 == 0:
            return
        if "webhook_id" in params:
            params["webhook_id"] = self.webhook_id
        if "graph_id" in params:
            params["graph_id"] = self.graph_id
        if "job_id" in params:
            params["job_id"] = self.queued_id if case.path.endswith("/cancel") else self.job_id
        if "node_id" in params and salt % 3:
            params["node_id"] = ("x", "q", "f")[salt % 3 - 1]

    @staticmethod
    def _no_waiting(case) -> None:
        """A valid ``Prefer: wait=N`` (the document's example is wait=5) becomes wait=0.

        No worker runs here, so each would be waited out whole: 24 s of the run on each database.
        Malformed ones and ones over MAX_WAIT are kept, to be refused; the wait itself is tested with
        real workers in tests/e2e/test_prefer_wait.py.
        """
        headers = case.headers or {}
        for name, value in headers.items():
            if name.lower() == "prefer" and isinstance(value, str):
                wait = prefer_wait([value])
                if isinstance(wait, int) and 0 < wait <= DEFAULT_MAX_WAIT:
                    headers[name] = "wait=0"

    def after(self, case, response) -> None:
        if case.method.upper() == "DELETE" and response.status_code == 204:
            self.make()
        elif case.path.endswith("/cancel") and response.status_code == 200:
            self.make_queued()


def _document_app():
    """An app built only to read its OpenAPI document at collection (requests go to the test's own app)."""
    from service.api.app_factory import create_app
    from service.runtime.config import Settings

    return create_app(
        Settings(home=".", database_url="sqlite://", broker_url="redis://127.0.0.1:6379/0"), check_migrations=False
    )


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",  # no example database: a run depends on the seed alone
            "with-security-parameters": False,  # the real key of the test, not generated ones
            # unknown query parameters are ignored by design (service/api/parser.py), so the fuzzer
            # adds none; unknown body fields must be refused, and are part of the negative cases
            "allow-extra-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", _document_app(), config=CONFIG)


@pytest.fixture
def seeds(app, keys, settings):
    from tests.conftest import Client

    return Seeds(Client(app.test_client(), keys["acme"]), settings)


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_answer_conforms_to_the_document(case, app, keys, seeds):
    seeds.aim(case)
    response = case.call(app=app, headers={"Authorization": f"Bearer {keys['acme']}"})
    STATS["requests"] += 1
    STATS[f"{response.status_code // 100}xx"] += 1
    if case.method.upper() == case.operation.method.upper():  # not the probes with other methods (405, OPTIONS)
        SEEN.setdefault(case.operation.label, Counter())[response.status_code] += 1
    seeds.after(case, response)
    case.validate_response(response, checks=CHECKS, transport_kwargs={"app": app})


def test_fuzzing_reached_every_operation_and_no_5xx(capsys):
    """Runs after the fuzzing (file order): prints what was sent, and checks that it reached every operation."""
    if not STATS:
        pytest.skip("the schemathesis test did not run in this session")
    with capsys.disabled():
        print(
            f"\nschemathesis: {STATS['requests']} requests, "
            + ", ".join(f"{k}={v}" for k, v in sorted(STATS.items()) if k != "requests")
        )
        for label, statuses in sorted(SEEN.items()):
            print(f"  {label}: {dict(sorted(statuses.items()))}")
    assert STATS["5xx"] == 0
    assert len(SEEN) == len(list(schema.get_all_operations())), sorted(SEEN)
    assert all(any(200 <= s < 300 for s in statuses) for statuses in SEEN.values()), SEEN
