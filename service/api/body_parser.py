"""How request bodies and query strings are read: JSON only, orjson-fast, problems with paths.

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
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import flask
import marshmallow as ma
from flask_smorest import Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

from service.graph import MalformedJSON, Problem, loads
from service.graph.errors import flatten_messages
from service.graph.numbers import JSONTooDeep

from .problems import ApiProblem, invalid


def read_json_body(req: flask.Request) -> Any:
    """The request body parsed as JSON. :raise ApiProblem: 415 not JSON, 400 malformed."""
    if not core.is_json(req.mimetype):
        shown = req.mimetype or "none"
        raise ApiProblem(
            415,
            "Unsupported media type",
            f"the body must be application/json, not {shown}",
            type_="unsupported-media-type",
        )
    data = req.get_data(cache=True)  # a Content-Length over MAX_BODY_BYTES: werkzeug raises 413 before reading
    if _streamed_past_the_limit(req, data):
        raise RequestEntityTooLarge()
    if not data:
        raise ApiProblem(
            400, "Malformed JSON", "the request body is empty; a JSON object is expected", type_="malformed-json"
        )
    try:
        return loads(data)
    except JSONTooDeep as exc:
        raise invalid([Problem("", str(exc))], "request body") from None
    except MalformedJSON as exc:
        raise ApiProblem(
            400, "Malformed JSON", f"the request body is not valid JSON: {exc}", type_="malformed-json"
        ) from None


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

    def handle_error(
        self,
        error: ma.ValidationError,
        req: flask.Request,
        schema: ma.Schema,
        *,
        error_status_code: int | None,
        error_headers: Any,
    ) -> NoReturn:
        messages = error.messages
        if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in self.__location_map__:
            location, messages = next(iter(messages.items()))
            what = "request body" if location == "json" else "query string"
        else:
            what = "request"
        raise invalid(flatten_messages(messages), what)


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint whose arguments are read by ProblemParser (errors as RFC 9457 problems)."""

    ARGUMENTS_PARSER = ProblemParser()
