"""Schemas of the API: request bodies come from the core; these declare query strings and answers.

Answers are built by ``answers.py`` and sent with orjson (a page of 10,000 nodes through
``Schema.dump`` would cost more than reading it); these schemas declare their shape for the
OpenAPI document, and the API tests check answers against that document.
"""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields, validate

from service.graph import GraphDefinitionSchema, JobRequestSchema, Limits
from service.graph.ops import NAMES
from service.graph.plan import KINDS
from service.graph.request_schemas import NODE_ID
from service.runtime.job_states import END_EVENTS, JOB_STATES

NON_FINITE = {
    "type": "string",
    "enum": ["Infinity", "-Infinity", "NaN"],
    "x-enum-varnames": ["INFINITY", "NEGATIVE_INFINITY", "NAN"],  # generated clients' names, not VALUE_1
}
NUMBER_OR_STRING = {"oneOf": [{"type": "number"}, NON_FINITE]}
UUID = {"format": "uuid"}


def nullable(schema: str) -> fields.Raw:
    """A nullable object of a component schema, as generators read it: ``allOf`` of one ``$ref`` and ``nullable``.

    (apispec writes ``anyOf: [{type: object, nullable}, {$ref}]`` for a nullable Nested field,
    and generated clients then take the untyped branch.) Answers are built by ``answers.py``, so
    this field only documents.
    """
    # not allow_none: apispec would turn the nullable allOf back into such an anyOf
    return fields.Raw(required=True, metadata={"allOf": [{"$ref": f"#/components/schemas/{schema}"}], "nullable": True})


VALUE = {
    "oneOf": [NUMBER_OR_STRING, {"type": "array", "items": NUMBER_OR_STRING}],
    "description": 'A number (an array of B numbers for a batch); non-finite as "Infinity", "-Infinity", "NaN".',
}
TANGENT_ONLY = "Jobs with `tangents` only: "


class ValidationItemSchema(Schema):
    path = fields.String(required=True, metadata={"example": "gates[3].inputs[1]"})
    message = fields.String(required=True, metadata={"example": "unknown node 'w'"})


class ProblemSchema(Schema):
    """An error (RFC 9457, application/problem+json)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.List(
        fields.Nested(ValidationItemSchema), metadata={"description": "Validation errors (422), at most 100."}
    )
    errors_total = fields.Integer(
        metadata={"description": "How many validation errors there were, when more than 100."}
    )


class GraphBodySchema(GraphDefinitionSchema):
    """A graph definition; the limits are the service's configured ones."""

    @property
    def limits(self) -> Limits:
        return current_app.config["GATEGRAPH"].limits

    @limits.setter
    def limits(self, value: Limits) -> None:
        pass  # always the configuration's


class JobSubmissionSchema(JobRequestSchema):
    """A job's inputs, and how long the service keeps it."""

    ttl_seconds = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "Keep the job and its results this many seconds after it ends (at most, and by "
            "default, JOB_TTL); then they are deleted. A job with an Idempotency-Key is kept at least a day.",
            "example": 3600,
        },
    )


class OneStepJobSchema(JobSubmissionSchema):
    """A graph definition and a job on it, in one call."""

    graph = fields.Nested(GraphBodySchema, required=True)


class GraphSchema(Schema):
    id = fields.String(required=True, metadata=UUID)
    name = fields.String(allow_none=True)
    n_inputs = fields.Integer(required=True)
    n_constants = fields.Integer(required=True)
    n_gates = fields.Integer(required=True)
    n_nodes = fields.Integer(required=True)
    outputs = fields.List(fields.String(), required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    definition = fields.Nested(
        GraphDefinitionSchema, metadata={"description": "The normalised definition (GET of one graph only)."}
    )


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "time_limit"})
    message = fields.String(required=True)


class GradientCheckSchema(Schema):
    """Gradients against central finite differences, for up to 64 inputs and 16 batch columns."""

    inputs_checked = fields.Integer(required=True)
    columns_checked = fields.Integer(required=True)
    max_abs_error = fields.Raw(required=True, metadata=NUMBER_OR_STRING)
    max_rel_error = fields.Raw(required=True, metadata=NUMBER_OR_STRING)
    node = fields.String(
        allow_none=True, required=True, metadata={"description": "The input with the largest relative error."}
    )


class JobSchema(Schema):
    id = fields.String(required=True, metadata=UUID)
    graph_id = fields.String(required=True, metadata=UUID)
    status = fields.String(required=True, validate=validate.OneOf(JOB_STATES))
    batch_size = fields.Integer(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    started_at = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, required=True, metadata={"format": "date-time"})
    expires_at = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "format": "date-time",
            "description": "When the job and its results are deleted (its URLs then answer 404); null until it ends.",
        },
    )
    stage = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "While running: loading, computing, checking or storing; else null."},
    )
    progress = fields.Float(
        required=True, allow_none=True, metadata={"description": "While running: fraction done, 0 to 1; else null."}
    )
    attempts = fields.Integer(metadata={"description": "How many times a worker has started this job."})
    outputs = fields.Dict(keys=fields.String(), values=fields.Raw(metadata=VALUE), allow_none=True, required=True)
    error = nullable("ErrorBody")
    gradient_check = nullable("GradientCheck")  # also present, as null, when not asked for


class NodeSchema(Schema):
    id = fields.String(required=True, metadata=NODE_ID)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    op = fields.String(validate=validate.OneOf(NAMES), metadata={"description": "Gates only."})
    value = fields.Raw(required=True, metadata=VALUE)
    grad = fields.Raw(required=True, metadata=VALUE)
    tangent = fields.Raw(
        metadata={**VALUE, "description": TANGENT_ONLY + "the value's derivative along v. " + VALUE["description"]}
    )
    grad_tangent = fields.Raw(
        metadata={
            **VALUE,
            "description": TANGENT_ONLY + "the gradient's derivative along v (H v at inputs). " + VALUE["description"],
        }
    )


class PageSchema(Schema):
    next_cursor = fields.String(allow_none=True, required=True, metadata={"description": "null on the last page."})


class GraphPageSchema(PageSchema):
    items = fields.List(fields.Nested(GraphSchema), required=True)


class JobPageSchema(PageSchema):
    items = fields.List(fields.Nested(JobSchema), required=True)


class NodePageSchema(PageSchema):
    items = fields.List(fields.Nested(NodeSchema), required=True)


class PageArgsSchema(Schema):
    limit = fields.Integer(
        load_default=100, validate=validate.Range(min=1), metadata={"description": "Items per page (at most MAX_PAGE)."}
    )
    cursor = fields.String(metadata={"description": "next_cursor of the previous page."})


class JobListArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(JOB_STATES))
    graph_id = fields.UUID()


class NodeListArgsSchema(PageArgsSchema):
    order = fields.String(
        validate=validate.OneOf(("index", "-abs_grad")),
        load_default="index",
        metadata={
            "description": "index: definition order; -abs_grad: largest |gradient| first.",
            "x-enum-varnames": ["INDEX", "ABS_GRAD_DESCENDING"],
        },
    )


class WaitArgsSchema(Schema):
    wait = fields.Float(
        load_default=0,
        validate=validate.Range(min=0),
        metadata={"description": "Hold the answer until the job ends or this many seconds (at most MAX_WAIT) pass."},
    )


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "unavailable"]))
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": 'database and broker: "ok", or what is wrong.', "example": {"database": "ok"}},
    )


WEBHOOK_EVENTS = END_EVENTS


class WebhookRequestSchema(Schema):
    """A callback endpoint: an https URL (WEBHOOK_ALLOW_PRIVATE lifts the rules) and the events it wants."""

    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2048),
        metadata={"example": "https://93.184.216.34/gategraph-events"},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
        load_default=list(WEBHOOK_EVENTS),
        validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
        metadata={"description": "Default: all three."},
    )


class WebhookSchema(Schema):
    id = fields.String(required=True, metadata=UUID)
    url = fields.String(required=True)
    events = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)), required=True)
    created_at = fields.DateTime(required=True)
    disabled_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "Set when a receiver answered 410 Gone."}
    )
    disabled_reason = fields.String(allow_none=True, required=True)


class NewWebhookSchema(WebhookSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "whsec_…: verifies the signatures (Standard Webhooks); shown this once."},
    )


class WebhookPageSchema(PageSchema):
    items = fields.List(fields.Nested(WebhookSchema), required=True)


class DeliveryAttemptSchema(Schema):
    number = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    status = fields.Integer(allow_none=True, required=True, metadata={"description": "The receiver's status."})
    error = fields.String(allow_none=True, required=True, metadata={"description": "Why there was no answer."})
    seconds = fields.Float(required=True)


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"description": "The webhook-id header: the same on every attempt."})
    event = fields.String(required=True, validate=validate.OneOf(WEBHOOK_EVENTS))
    job_id = fields.String(required=True, metadata=UUID)
    state = fields.String(required=True, validate=validate.OneOf(("pending", "delivered", "failed", "canceled")))
    attempts = fields.Integer(required=True)
    last_status = fields.Integer(allow_none=True, required=True)
    last_error = fields.String(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    next_attempt_at = fields.DateTime(allow_none=True, required=True)
    delivered_at = fields.DateTime(allow_none=True, required=True)
    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema), required=True)


class DeliveryPageSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)
