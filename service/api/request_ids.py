"""Per request: an id (``X-Request-ID``, echoed back, made up when absent), metrics, an access log line."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, request

from service.runtime import logs

from . import http_metrics

log = logging.getLogger("gategraph.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def register_request_ids(app: Flask) -> None:
    @app.before_request
    def _begin() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        logs.request_id.set(g.request_id)
        http_metrics.start_timer()

    @app.after_request
    def _end(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        http_metrics.record(response)
        # the path, never the query string or body: inputs and keys stay out of the logs
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={"method": request.method, "path": request.path, "status": response.status_code},
        )
        return response
