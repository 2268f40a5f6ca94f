"""The app factory: configuration, error handling, blueprints, and the OpenAPI document."""

from __future__ import annotations

from flask import Flask, Response, current_app
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from service import web
from service.runtime import logs
from service.runtime.config import Settings
from service.runtime.job_events import Listener
from service.runtime.job_queue import make_celery
from service.storage.migrate import check_schema
from service.storage.plan_cache import PlanCache

from . import docs_assets, graph_routes, health_routes, http_metrics, job_routes, node_routes, webhook_routes
from .error_docs import PROBLEM_SCHEMA, ProblemResponses
from .http_schemas import ErrorBodySchema, GradientCheckSchema, ProblemSchema
from .problems import IdConverter, from_http_exception, problem_response, register
from .rate_limits import init_rate_limits
from .request_context import close_db
from .request_ids import register_request_ids


class ProblemApi(Api):
    """flask-smorest's Api, with errors as RFC 9457 problems in the answers and in the document."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        """flask-smorest's documented hook for HTTP errors: answer them as problems."""
        return problem_response(from_http_exception(error, current_app.config["GATEGRAPH"].max_body_bytes))


def create_app(settings: Settings | None = None, *, check_migrations: bool = True) -> Flask:
    """Build the API. :raise SchemaOutOfDate: the database needs `gategraph db upgrade` first."""
    settings = settings or Settings.from_env()
    if check_migrations:
        check_schema(settings.database_url)
    app = Flask("gategraph", static_folder=None)  # static files belong to the web blueprint
    app.url_map.converters["uuid"] = IdConverter  # before any route is added
    app.json.sort_keys = False  # the page shows definitions in the order people write them
    app.config.update(
        GATEGRAPH=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="gategraph",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=docs_assets.ASSETS_URL,  # served here: /docs works offline
        API_SPEC_OPTIONS={
            "info": {"description": "Forward values and backward gradients of add/multiply gate graphs."},
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    celery = make_celery(settings)
    app.extensions["gategraph"] = {
        "plans": PlanCache(settings.plan_cache_size),
        "celery": celery,
        "metrics": http_metrics.state_registry(settings.database_url, celery),
        "job_events": Listener(settings.broker_url, settings.queue),
    }
    api = ProblemApi(app, spec_kwargs={"extra_plugins": [ProblemResponses()]})
    assert PROBLEM_SCHEMA in api.spec.components.schemas  # flask-smorest registers ERROR_SCHEMA under this name
    # referred to by http_schemas.nullable fields, which apispec does not follow
    api.spec.components.schema("ErrorBody", schema=ErrorBodySchema)
    api.spec.components.schema("GradientCheck", schema=GradientCheckSchema)
    for blueprint in (health_routes.blp, graph_routes.blp, job_routes.blp, node_routes.blp, webhook_routes.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(http_metrics.blp)
    app.register_blueprint(web.blp)
    app.register_blueprint(docs_assets.blp)
    register(app)
    init_rate_limits(app, settings)
    register_request_ids(app)
    app.teardown_appcontext(close_db)
    logs.configure(settings.log_level)
    return app
