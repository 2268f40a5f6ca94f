"""Secrets, their sealing with rotating keys, and signatures checked by the standardwebhooks library itself."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from service.webhooks.signing import SecretBox, new_box_key, new_secret, signed_headers


def test_a_secret_is_whsec_and_24_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert new_secret() != secret


def test_a_sealed_secret_opens_and_does_not_show_it():
    box = SecretBox(new_box_key())
    secret = new_secret()
    token = box.seal(secret)
    assert box.open(token) == secret
    assert secret not in token
    assert secret.removeprefix("whsec_") not in token
    assert box.seal(secret) != token  # a fresh IV each time: equal secrets are not visible as such


def test_keys_rotate_new_first_old_still_opens():
    old, new = new_box_key(), new_box_key()
    secret = new_secret()
    sealed_before = SecretBox(old).seal(secret)
    rotated = SecretBox(f"{new}, {old}")
    assert rotated.open(sealed_before) == secret
    sealed_after = rotated.seal(secret)
    assert SecretBox(new).open(sealed_after) == secret
    with pytest.raises(ValueError, match="opens with none of the configured keys"):
        SecretBox(old).open(sealed_after)


@pytest.mark.parametrize("keys", ["", " , ", ","])
def test_no_keys_is_a_clear_error(keys):
    with pytest.raises(ValueError, match="no webhook secret keys are set"):
        SecretBox(keys)


def test_an_invalid_key_is_a_clear_error_that_does_not_repeat_the_key():
    with pytest.raises(ValueError, match="key number 2 is not a Fernet key") as caught:
        SecretBox(f"{new_box_key()},not-a-real-key")
    assert "not-a-real-key" not in str(caught.value)


def test_a_token_from_elsewhere_does_not_open():
    with pytest.raises(ValueError, match="opens with none"):
        SecretBox(new_box_key()).open("gAAAAAgarbage")


def test_signed_headers_verify_with_the_library():
    secret = new_secret()
    body = json.dumps({"job": "j_1", "state": "done"})
    now = datetime.now(UTC)
    headers = signed_headers(secret, "msg_1", now, body)
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "gategraph-webhooks/1"
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"job": "j_1", "state": "done"}


def test_a_tampered_body_or_another_secret_fails_verification():
    secret = new_secret()
    body = '{"job": "j_1"}'
    headers = signed_headers(secret, "msg_1", datetime.now(UTC), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"job": "j_2"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_the_time_zone_of_the_timestamp_does_not_shift_the_signed_time():
    secret = new_secret()
    moment = datetime.now(UTC).replace(microsecond=0)
    in_utc = signed_headers(secret, "msg_1", moment, "{}")
    elsewhere = signed_headers(secret, "msg_1", moment.astimezone(timezone(timedelta(hours=5))), "{}")
    naive = signed_headers(secret, "msg_1", moment.replace(tzinfo=None), "{}")
    assert in_utc == elsewhere == naive
    Webhook(secret).verify("{}", elsewhere)
