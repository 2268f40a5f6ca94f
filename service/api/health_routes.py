"""/healthz (the process answers) and /readyz (the database and the broker answer too); no key needed."""

from __future__ import annotations

from flask import Response

from service.storage.database import ping
from service.storage.migrate import SchemaOutOfDate, check_schema

from .answers import json_response
from .body_parser import ApiBlueprint
from .http_schemas import HealthSchema, ReadinessSchema
from .request_context import db, extension, settings

blp = ApiBlueprint("health", __name__, description="Liveness and readiness, for load balancers and orchestrators.")


@blp.route("/healthz", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, HealthSchema, description="The process answers.")
def healthz() -> Response:
    """The API process is up."""
    return json_response({"status": "ok"})


@blp.route("/readyz", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, ReadinessSchema, description="Ready: every check is ok.")
@blp.alt_response(503, schema=ReadinessSchema, description="Not ready: the checks say what is down.")
def readyz() -> Response:
    """The API can serve: database reachable and migrated, broker reachable. 503 with what is down otherwise."""
    checks = {"database": _database(), "broker": _broker()}
    ready = all(v == "ok" for v in checks.values())
    headers = {} if ready else {"Retry-After": "5"}
    return json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503, headers
    )


def _database() -> str:
    try:
        ping(db())
        check_schema(settings().database_url)
        return "ok"
    except SchemaOutOfDate as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"unreachable: {type(exc).__name__}"


def _broker() -> str:
    try:
        with extension("celery").connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return f"unreachable: {type(exc).__name__}"
