"""Signed completion callbacks (Standard Webhooks), the HTTP side: which URLs, which headers, one POST.

``targets`` decides which URLs may be called and pins the checked address, ``signing`` makes
secrets, seals them for storage and signs deliveries, ``sender`` makes one attempt, ``events``
writes the body and ``schedule`` says when to try again. Queueing and storage belong to the
callers, so nothing here imports Flask, Celery, SQLAlchemy or the worker.
"""

from .sender import Attempt, deliver, post
from .signing import SecretBox, new_box_key, new_secret, signed_headers
from .targets import RefusedTarget, Target, address_refusal, check_url, resolve_target

__all__ = [
    "Attempt",
    "RefusedTarget",
    "SecretBox",
    "Target",
    "address_refusal",
    "check_url",
    "deliver",
    "new_box_key",
    "new_secret",
    "post",
    "resolve_target",
    "signed_headers",
]
