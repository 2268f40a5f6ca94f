"""Webhook secrets, their encryption at rest, and the signed headers of a delivery.

Signatures follow the Standard Webhooks specification and are made by the ``standardwebhooks``
library, so receivers can check them with any of its implementations; no HMAC is written here.
Secrets are stored sealed with Fernet (``cryptography``) under a comma-separated list of keys:
the first key seals, all of them open, so a key is rotated by putting a new one in front and
dropping the old one once every stored secret has been sealed again. A database dump alone then
does not reveal the secrets.
"""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
USER_AGENT = "gategraph-webhooks/1"


def new_secret() -> str:
    """A new signing secret, ``whsec_`` and the standard base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def new_box_key() -> str:
    """A new key for :class:`SecretBox`."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Seals and opens webhook secrets with a list of Fernet keys, the first one sealing."""

    def __init__(self, keys: str) -> None:
        texts = [key.strip() for key in (keys or "").split(",") if key.strip()]
        if not texts:
            raise ValueError("no webhook secret keys are set; give a comma-separated list of Fernet keys")
        self._fernet = MultiFernet([_fernet(text, number) for number, text in enumerate(texts, start=1)])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("utf-8")).decode("utf-8")
        except InvalidToken:
            # Said plainly, because the usual cause is a key taken out of the list too early.
            raise ValueError("the sealed webhook secret opens with none of the configured keys") from None


def _fernet(text: str, number: int) -> Fernet:
    try:
        return Fernet(text)
    except ValueError:
        # The key itself stays out of the message: it is a secret too.
        raise ValueError(
            f"webhook secret key number {number} is not a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def signed_headers(secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The headers of one delivery of ``body``: content type, user agent and the three webhook-* ones.

    A naive ``timestamp`` is taken as UTC. An aware one is converted to UTC first, because the
    library replaces the time zone instead of converting, which would sign a shifted time.
    """
    moment = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body),
    }
