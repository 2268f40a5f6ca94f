"""The error answers of every operation in the OpenAPI document.

For every operation the document lists each error status it can answer (401 and 503 for every
operation that needs a key, and 429 (its rate); 404 where the path has an id; 400, 413, 415 and 422 where there is
a JSON body; 422 where there is a query string; what the view documents itself, such as 409),
all as ``application/problem+json`` with the ``Problem`` schema, and no catch-all ``default``
response, so that a status or a content type the document does not list is a bug a conformance
check can see.

This is an apispec plugin (``operation_helper``, apispec's public hook, handed to flask-smorest
as an extra plugin), so nothing here reaches into flask-smorest's private attributes.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin

from .problems import PROBLEM_JSON

#: The document's name of the problem schema (``http_schemas.ProblemSchema``).
PROBLEM_SCHEMA = "Problem"

#: What each error status means, in the document; a view's own description (alt_response) wins.
ERROR_STATUSES = {
    400: "Malformed JSON: the body is empty or is not JSON.",
    401: "No API key, or not a valid one (see WWW-Authenticate).",
    404: "No such id for this tenant (another tenant's ids are not found either), or no such route.",
    409: "Conflict with the resource's state.",
    413: "The request body is over MAX_BODY_BYTES.",
    415: "The request body is not application/json.",
    422: "Invalid content, or over a limit: every problem with its path.",
    429: "Over the key's RATE_LIMIT, or (submissions) the tenant has MAX_QUEUED_PER_TENANT jobs queued or running.",
    503: "A backing service (the database, the broker) is down; retry after Retry-After seconds.",
}
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"description": 'Bearer realm="gategraph"', "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
    429: {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
        "RateLimit-Policy": {
            "description": 'The quota (IETF draft): "per-key";q=N;w=SECONDS, or "queued-jobs";q=N.',
            "schema": {"type": "string"},
        },
        "RateLimit": {"description": 'What is left: "per-key";r=0;t=SECONDS.', "schema": {"type": "string"}},
    },
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def error_statuses(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from its path and its OpenAPI description so far."""
    statuses: set[int] = set()
    if operation.get("security") != []:  # a key is required (and looked up in the database), and counted
        statuses |= {401, 429, 503}
    if "{" in path:  # an id in the path
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    if any(isinstance(p, dict) and p.get("in") == "query" for p in operation.get("parameters", [])):
        statuses.add(422)
    return statuses


class ProblemResponses(BasePlugin):
    """Replaces each operation's catch-all ``default`` error with the error statuses it can answer, as problems."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if method in _METHODS:
                operation["responses"] = _responses(path or "", operation)


def _responses(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    documented = {str(status): response for status, response in operation.get("responses", {}).items()}
    documented.pop("default", None)
    if not any(int(s) < 400 for s in documented):  # no answer of its own: say nothing false about it
        return {**documented, "default": {"description": "See the operation's description."}}
    statuses = error_statuses(path, operation) | {int(s) for s in documented if int(s) >= 400}
    for status in sorted(statuses):
        given = documented.get(str(status))
        description = given.get("description") if isinstance(given, dict) else None
        response: dict[str, Any] = {
            "description": description or ERROR_STATUSES.get(status, "An error."),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        if status in ERROR_HEADERS:
            response["headers"] = ERROR_HEADERS[status]
        documented[str(status)] = response
    return documented
