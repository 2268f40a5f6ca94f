"""Errors as ``application/problem+json`` (RFC 9457), for every error the service sends.

Raise ``ApiProblem`` (or a werkzeug HTTPException) anywhere; the handlers registered by
``register`` turn it, Flask's own 404/405/413 and any unexpected exception into a problem
document. Unexpected exceptions are logged with their stack trace, which never leaves the server.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import orjson
from flask import Flask, Response, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import UUIDConverter

from service.graph import Problem
from service.graph.errors import MAX_LISTED_PROBLEMS

log = logging.getLogger("gategraph.api")
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:gategraph:problem:"  # absolute URIs that name the kind of problem


class ApiProblem(Exception):
    """An error answer: status, a short title, a detail that names the problem, optional extras."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        problems: list[Problem] | None = None,
        headers: dict[str, str] | None = None,
        type_: str | None = None,
    ):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.problems = problems
        self.headers = headers or {}
        self.type = type_ or title.lower().replace(" ", "-")


def invalid(problems: list[Problem], what: str = "request") -> ApiProblem:
    """422 with every validation problem (the first MAX_LISTED_PROBLEMS of them)."""
    first = problems[0]
    where = f" at {first.path}" if first.path else ""
    others = len(problems) - 1
    more = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    return ApiProblem(
        422, "Invalid " + what, f"{first.message}{where}{more}", problems=problems, type_="validation-error"
    )


def not_found(what: str) -> ApiProblem:
    return ApiProblem(404, "Not found", f"no {what} with this id", type_="not-found")


def problem_response(error: ApiProblem) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + error.type,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if error.problems is not None:
        body["errors"] = [p.as_dict() for p in error.problems[:MAX_LISTED_PROBLEMS]]
        if len(error.problems) > MAX_LISTED_PROBLEMS:
            body["errors_total"] = len(error.problems)
    try:
        payload = orjson.dumps(body)
    except TypeError:  # a string that is not Unicode text (a lone surrogate echoed from the request): never a crash
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")
    response = Response(payload, status=error.status, mimetype=PROBLEM_JSON)
    response.headers.update(error.headers)
    return response


def from_http_exception(exc: HTTPException, max_body_bytes: int) -> ApiProblem:
    if isinstance(exc, RequestEntityTooLarge):
        detail = f"the request body is over the limit MAX_BODY_BYTES={max_body_bytes} bytes"
        return ApiProblem(413, "Payload too large", detail, type_="payload-too-large")
    if isinstance(exc, NotFound) and exc.description == NotFound.description:  # no route: werkzeug's generic text
        route = f"{request.method} {request.path[:200]}"
        detail = f"no such route: {route}; the routes are listed at /openapi.json and /docs"
        return ApiProblem(404, "Not found", detail, type_="not-found")
    title = exc.name
    headers = dict(exc.get_response().headers) if exc.code == 405 else {}
    allow = {"Allow": headers["Allow"]} if "Allow" in headers else {}
    return ApiProblem(exc.code or 500, title, exc.description or title, headers=allow)


class IdConverter(UUIDConverter):
    """``<uuid:...>`` in routes, but a malformed id is a 404 that says so, not werkzeug's "check your spelling".

    Matching any path segment, then refusing what is not a UUID, is what lets the answer name the id.
    """

    regex = r"[^/]+"

    def to_python(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            shown = value[:64] + ("..." if len(value) > 64 else "")
            raise NotFound(f"{shown!r} is not a valid id: graph and job ids are UUIDs") from None


def register(app: Flask) -> None:
    max_body = app.config["GATEGRAPH"].max_body_bytes

    @app.errorhandler(ApiProblem)
    def _problem(error: ApiProblem) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        return problem_response(from_http_exception(error, max_body))

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Response:
        log.warning("database unreachable: %s", str(error).splitlines()[0])
        return problem_response(
            ApiProblem(
                503, "Service unavailable", "the database is unreachable; retry shortly", headers={"Retry-After": "5"}
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return problem_response(
            ApiProblem(500, "Internal server error", "an unexpected error occurred; it has been logged")
        )
