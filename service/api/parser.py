"""How request bodies and query strings are read, and how every operation's errors are documented.

Reading: JSON only, orjson-fast, problems with paths.

- a body that is not ``application/json`` is refused with 415;
- a body over MAX_BODY_BYTES with 413, before it is read when it has a Content-Length, and as
  soon as the limit is passed when it is streamed without one (chunked);
- a body that is not JSON with 400; numbers JSON allows but float64 cannot hold (``1e400``)
  are read as infinity and refused by validation with their path (422);
- JSON nested deeper than MAX_JSON_DEPTH (1024) with 422 naming the limit;
- an Idempotency-Key (stored with the job) holding a control character with 422;
- validation errors become one 422 problem listing every error with its path.
Unknown body fields are refused (marshmallow's default); unknown query parameters are ignored
(webargs's default for the query string), so links with tracking parameters still work.

Documenting: ``ApiBlueprint`` lists, for every operation, each error status it can answer
(401 and 503 for every ``/v1`` operation; 404 where the path has an id; 400, 413, 415 and 422
where there is a JSON body; 422 where there is a query string; what the view documents itself,
such as 409), all as ``application/problem+json`` with the ``Problem`` schema, and no catch-all
``default`` response, so that a status or a content type the document does not list is a bug a
conformance check can see.
"""
from __future__ import annotations

import re
from typing import Any, NoReturn

import flask
import marshmallow as ma
from webargs import core
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

from service.graph import MalformedJSON, Problem, loads
from service.graph.errors import flatten_messages
from service.graph.numbers import JSONTooDeep

from .problems import PROBLEM_JSON, ApiProblem, invalid
from .schemas import ProblemSchema


def read_json_body(req: flask.Request) -> Any:
    """The request body parsed as JSON. :raise ApiProblem: 415 not JSON, 400 malformed."""
    if not core.is_json(req.mimetype):
        shown = req.mimetype or "none"
        raise ApiProblem(415, "Unsupported media type", f"the body must be application/json, not {shown}", type_="unsupported-media-type")
    data = req.get_data(cache=True)  # a Content-Length over MAX_BODY_BYTES: werkzeug raises 413 before reading
    if _streamed_past_the_limit(req, data):
        raise RequestEntityTooLarge()
    if not data:
        raise ApiProblem(400, "Malformed JSON", "the request body is empty; a JSON object is expected", type_="malformed-json")
    try:
        return loads(data)
    except JSONTooDeep as exc:
        raise invalid([Problem("", str(exc))], "request body") from None
    except MalformedJSON as exc:
        raise ApiProblem(400, "Malformed JSON", f"the request body is not valid JSON: {exc}", type_="malformed-json") from None


def _streamed_past_the_limit(req: flask.Request, data: bytes) -> bool:
    """Whether a body without a Content-Length (chunked) went on past MAX_BODY_BYTES.

    werkzeug reads such a body up to the limit and stops there without an error, so a longer body
    would be silently cut to the limit: one more byte of the raw input tells them apart.
    """
    limit = req.max_content_length
    if limit is None or req.content_length is not None or len(data) < limit:
        return False
    try:
        return bool(req.environ["wsgi.input"].read(1))
    except Exception:  # noqa: BLE001 - an input that cannot be read on is not a body that ended
        return True


#: Request headers the service stores (with the job): they must be text a database can hold.
STORED_HEADERS = ("Idempotency-Key",)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_stored_headers(req: flask.Request) -> None:
    """:raise ApiProblem: 422 when a stored header holds a control character (PostgreSQL cannot store NUL)."""
    for name in STORED_HEADERS:
        value = req.headers.get(name)
        if value is not None and _CONTROL.search(value):
            raise invalid([Problem(name, "must not contain control characters")], "request")


class ProblemParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 422

    def _raw_load_json(self, req: flask.Request) -> Any:
        check_stored_headers(req)  # parsing runs after authentication, before the view reads its headers
        return read_json_body(req)

    def handle_error(self, error: ma.ValidationError, req: flask.Request, schema: ma.Schema, *,
                     error_status_code: int | None, error_headers: Any) -> NoReturn:
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in self.__location_map__:
            location, messages = next(iter(messages.items()))
            what = "request body" if location == "json" else "query string"
        else:
            what = "request"
        raise invalid(flatten_messages(messages), what)


#: What each error status means, in the document; a view's own description (alt_response) wins.
ERROR_STATUSES = {
    400: "Malformed JSON: the body is empty or is not JSON.",
    401: "No API key, or not a valid one (see WWW-Authenticate).",
    404: "No such id for this tenant (another tenant's ids are not found either), or no such route.",
    409: "Conflict with the resource's state.",
    413: "The request body is over MAX_BODY_BYTES.",
    415: "The request body is not application/json.",
    422: "Invalid content, or over a limit: every problem with its path.",
    503: "A backing service (the database, the broker) is down; retry after Retry-After seconds.",
}
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer realm=\"gategraph\"", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
}


def error_statuses(doc: dict[str, Any], doc_info: dict[str, Any], rule: str) -> set[int]:
    """The error statuses an operation can answer, from its route and its arguments (``doc``: its OpenAPI so far)."""
    statuses: set[int] = set()
    if doc_info.get("manual_doc", {}).get("security") != []:  # a key is required (and looked up in the database)
        statuses |= {401, 503}
    if "<" in rule:  # an id in the path
        statuses.add(404)
    if "requestBody" in doc:
        statuses |= {400, 413, 415, 422}
    if any(isinstance(p, dict) and p.get("in") == "query" for p in doc.get("parameters", [])):
        statuses.add(422)
    return statuses


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint whose arguments are read by ProblemParser and whose errors are documented."""

    ARGUMENTS_PARSER = ProblemParser()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_problem_doc)

    def add_url_rule(self, rule: str, endpoint: str | None = None, view_func: Any = None,
                     provide_automatic_options: bool | None = None, **options: Any) -> None:
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)
        for method, info in self._docs[self._endpoints[-1]].items():
            if method != "parameters":
                info["rule"] = rule

    @staticmethod
    def _prepare_problem_doc(doc: dict[str, Any], doc_info: dict[str, Any], *, api: Any, spec: Any, **kwargs: Any) -> dict[str, Any]:
        """Replace the catch-all ``default`` error with each error status the operation can answer, as problems."""
        responses = doc.setdefault("responses", {})
        documented = {str(status): response for status, response in responses.items()}
        successes = {s for s in documented if s != "default" and int(s) < 400}
        documented.pop("default", None)
        if not successes:  # an operation that documents no answer of its own: say nothing false about it
            doc["responses"] = {**documented, "default": {"description": "See the operation's description."}}
            return doc
        statuses = error_statuses(doc, doc_info, doc_info.get("rule", "")) | {int(s) for s in documented if int(s) >= 400}
        for status in sorted(statuses):
            given = documented.get(str(status))
            description = given.get("description") if isinstance(given, dict) else None
            response: dict[str, Any] = {
                "description": description or ERROR_STATUSES.get(status, "An error."),
                "content": {PROBLEM_JSON: {"schema": ProblemSchema}},
            }
            if status in ERROR_HEADERS:
                response["headers"] = ERROR_HEADERS[status]
            documented[str(status)] = response
        doc["responses"] = documented
        return doc
