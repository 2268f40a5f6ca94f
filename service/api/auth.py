"""Who is calling: the ``Authorization: Bearer <key>`` header, checked against storage's keys; 401 otherwise."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.storage.keys import Caller, KeyRefused, verify_key

from .problems import ApiProblem

_REFUSALS = {
    "malformed": "the Authorization header must be 'Bearer <key>' with a gategraph key",
    "unknown": "this API key is not valid",
    "revoked": "this API key has been revoked",
}


def _unauthorized(detail: str) -> ApiProblem:
    headers = {"WWW-Authenticate": 'Bearer realm="gategraph"'}
    return ApiProblem(401, "Unauthorized", detail, headers=headers, type_="unauthorized")


def authenticate(session: Session, header: str | None) -> Caller:
    """The caller of a request from its Authorization header. :raise ApiProblem: 401."""
    if not header:
        raise _unauthorized("an API key is required: send Authorization: Bearer <key>")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        raise _unauthorized(_REFUSALS["malformed"])
    try:
        return verify_key(session, key)
    except KeyRefused as exc:
        raise _unauthorized(_REFUSALS[str(exc)]) from None
