"""Swagger UI's files for /docs, served by the service itself, so the page works without internet.

flask-smorest renders /docs from a template that loads Swagger UI from ``OPENAPI_SWAGGER_UI_URL``
(a CDN in its examples: a blank page offline). The flask-swagger-ui package ships the same
Swagger UI distribution on PyPI; only its files are used here, under ``ASSETS_URL``.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint

ASSETS_URL = "/docs/assets/"
DIST = Path(flask_swagger_ui.__file__).parent / "dist"

blp = Blueprint("docs_assets", __name__, static_folder=str(DIST), static_url_path=ASSETS_URL.rstrip("/"))
