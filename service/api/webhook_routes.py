"""/v1/webhooks: a tenant's completion-callback endpoints, and every delivery owed to each, with its attempts.

A URL is checked when it is registered (``https``, and every address its host resolves to public;
WEBHOOK_ALLOW_PRIVATE lifts both rules) and again by the sender at each delivery. The secret is
made here, shown once, and stored sealed with WEBHOOK_SECRET_KEYS.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from service.graph import Problem
from service.runtime.job_states import END_EVENTS
from service.runtime.times import iso
from service.storage import webhook_rows
from service.storage.models import Webhook, WebhookDelivery
from service.webhooks import RefusedTarget, SecretBox, new_secret, resolve_target

from .answers import json_response
from .body_parser import ApiBlueprint
from .http_schemas import (
    DeliveryPageSchema,
    NewWebhookSchema,
    PageArgsSchema,
    ProblemSchema,
    WebhookPageSchema,
    WebhookRequestSchema,
    WebhookSchema,
)
from .paging import after_cursor, page_body, page_limit
from .problems import ApiProblem, invalid, not_found
from .request_context import caller, db, require_key, settings

blp = ApiBlueprint(
    "webhooks",
    __name__,
    url_prefix="/v1/webhooks",
    description="Completion callbacks: signed POSTs (Standard Webhooks) when a job of the tenant ends.",
)
blp.before_request(require_key)


@blp.route("", methods=["POST"])
@blp.arguments(WebhookRequestSchema, as_kwargs=False)
@blp.response(201, NewWebhookSchema, description="Registered; the secret is in this answer only.")
@blp.alt_response(422, schema=ProblemSchema, description="A URL that is not https or reaches an internal address.")
@blp.alt_response(501, schema=ProblemSchema, description="The deployment has no WEBHOOK_SECRET_KEYS.")
def create_webhook(data: dict[str, Any]) -> Response:
    """Register an endpoint for some or all of job.succeeded, job.failed and job.canceled."""
    box = _secret_box()
    try:
        resolve_target(data["url"], settings().webhook_allow_private)
    except RefusedTarget as exc:
        raise invalid([Problem("url", str(exc))]) from None
    secret = new_secret()
    events = [e for e in END_EVENTS if e in data["events"]]  # one order, no repeats
    webhook = webhook_rows.new_webhook(db(), caller().tenant_id, data["url"], events, box.seal(secret))
    body = {**_webhook_body(webhook), "secret": secret}
    return json_response(body, 201, {"Location": f"/v1/webhooks/{webhook.id}"})


def _secret_box() -> SecretBox:
    keys = settings().webhook_secret_keys
    if not keys:
        detail = "this deployment has no WEBHOOK_SECRET_KEYS, so it cannot keep webhook secrets; ask its operator"
        raise ApiProblem(501, "Webhooks not configured", detail, type_="webhooks-not-configured")
    return SecretBox(keys)


@blp.route("", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, WebhookPageSchema)
def list_webhooks(query: dict[str, Any]) -> Response:
    """The caller's endpoints, newest first (without their secrets)."""
    limit = page_limit(query)
    rows, more = webhook_rows.webhook_page(db(), caller().tenant_id, after_cursor(query), limit)
    return json_response(page_body(rows, more, lambda hooks: [_webhook_body(h) for h in hooks]))


@blp.route("/<uuid:webhook_id>", methods=["GET"])
@blp.response(200, WebhookSchema)
def get_webhook(webhook_id: Any) -> Response:
    """One endpoint (without its secret)."""
    return json_response(_webhook_body(_tenant_webhook(webhook_id)))


@blp.route("/<uuid:webhook_id>", methods=["DELETE"])
@blp.response(204)
def delete_webhook(webhook_id: Any) -> Response:
    """Stop calling an endpoint; what it was still owed is dropped."""
    webhook_rows.delete_webhook(db(), _tenant_webhook(webhook_id).id)
    return Response(status=204)


@blp.route("/<uuid:webhook_id>/deliveries", methods=["GET"])
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, DeliveryPageSchema)
def list_deliveries(query: dict[str, Any], webhook_id: Any) -> Response:
    """The events owed to an endpoint, newest first: state, attempts, last status, next attempt, every attempt."""
    webhook = _tenant_webhook(webhook_id)
    limit = page_limit(query)
    rows, more = webhook_rows.delivery_page(db(), webhook.id, after_cursor(query), limit)
    return json_response(page_body(rows, more, _delivery_bodies))


def _tenant_webhook(webhook_id: Any) -> Webhook:
    webhook = webhook_rows.tenant_webhook(db(), caller().tenant_id, str(webhook_id))
    if webhook is None:
        raise not_found("webhook")
    return webhook


def _webhook_body(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": webhook.events.split(","),
        "created_at": iso(webhook.created_at),
        "disabled_at": iso(webhook.disabled_at),
        "disabled_reason": webhook.disabled_reason,
    }


def _delivery_bodies(deliveries: list[WebhookDelivery]) -> list[dict[str, Any]]:
    attempts = webhook_rows.attempts_of(db(), [d.id for d in deliveries])
    return [
        {
            "id": d.id,
            "event": d.event,
            "job_id": d.job_id,
            "state": d.state,
            "attempts": d.attempts,
            "last_status": d.last_status,
            "last_error": d.last_error,
            "created_at": iso(d.created_at),
            "next_attempt_at": iso(d.next_attempt_at),
            "delivered_at": iso(d.delivered_at),
            "attempt_log": [
                {"number": a.number, "at": iso(a.at), "status": a.status, "error": a.error, "seconds": a.seconds}
                for a in attempts[d.id]
            ],
        }
        for d in deliveries
    ]
