"""How request bodies and query strings are read: JSON only, orjson-fast, problems with paths.

- a body that is not ``application/json`` is refused with 415;
- a body that is not JSON with 400; numbers JSON allows but float64 cannot hold (``1e400``)
  are read as infinity and refused by validation with their path (422);
- validation errors become one 422 problem listing every error with its path.
Unknown body fields are refused (marshmallow's default); unknown query parameters are ignored
(webargs's default for the query string), so links with tracking parameters still work.
"""
from __future__ import annotations

from typing import Any, NoReturn

import flask
import marshmallow as ma
from webargs import core
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from service.graph import MalformedJSON, loads
from service.graph.errors import flatten_messages

from .problems import ApiProblem, invalid


def read_json_body(req: flask.Request) -> Any:
    """The request body parsed as JSON. :raise ApiProblem: 415 not JSON, 400 malformed."""
    if not core.is_json(req.mimetype):
        shown = req.mimetype or "none"
        raise ApiProblem(415, "Unsupported media type", f"the body must be application/json, not {shown}", type_="unsupported-media-type")
    data = req.get_data(cache=True)  # over MAX_BODY_BYTES: werkzeug raises 413 before reading it all
    if not data:
        raise ApiProblem(400, "Malformed JSON", "the request body is empty; a JSON object is expected", type_="malformed-json")
    try:
        return loads(data)
    except MalformedJSON as exc:
        raise ApiProblem(400, "Malformed JSON", f"the request body is not valid JSON: {exc}", type_="malformed-json") from None


class ProblemParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 422

    def _raw_load_json(self, req: flask.Request) -> Any:
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


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint whose arguments are read by ProblemParser."""

    ARGUMENTS_PARSER = ProblemParser()
