"""API keys in the database: shown once, stored hashed, verified in full, revoked for good."""

import pytest
from sqlalchemy import select

from service.storage.database import session_factory
from service.storage.keys import KEY_PATTERN, KeyRefused, create_key, list_keys, revoke_key, verify_key
from service.storage.models import ApiKey


def test_a_key_is_stored_only_as_its_hash_and_verifies(settings):
    with session_factory(settings.database_url)() as session:
        key = create_key(session, "acme", label="ci")
        assert KEY_PATTERN.match(key)
        stored = session.scalar(select(ApiKey))
        assert key not in (stored.key_hash, stored.key_id) and len(stored.key_hash) == 64
        caller = verify_key(session, f"  {key} ")
        assert caller.key_id == stored.key_id and caller.tenant_id == stored.tenant_id
        (info,) = list_keys(session)
        assert (info.tenant, info.key_id, info.label, info.revoked_at) == ("acme", stored.key_id, "ci", None)


def test_a_second_key_joins_the_tenant(settings):
    with session_factory(settings.database_url)() as session:
        first = verify_key(session, create_key(session, "acme"))
        second = verify_key(session, create_key(session, "acme"))
        other = verify_key(session, create_key(session, "globex"))
    assert first.tenant_id == second.tenant_id != other.tenant_id


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), "unknown"),
        (lambda k: k + "x", "malformed"),
        (lambda k: "", "malformed"),
    ],
)
def test_a_changed_key_is_refused(settings, change, why):
    with session_factory(settings.database_url)() as session:
        key = create_key(session, "acme")
        with pytest.raises(KeyRefused, match=why):
            verify_key(session, change(key))


def test_a_revoked_key_is_refused_and_revoking_twice_says_so(settings):
    with session_factory(settings.database_url)() as session:
        key = create_key(session, "acme")
        key_id = KEY_PATTERN.match(key).group(1)
        assert revoke_key(session, key_id) is True and revoke_key(session, key_id) is False
        with pytest.raises(KeyRefused, match="revoked"):
            verify_key(session, key)
        assert list_keys(session)[0].revoked_at is not None
        assert revoke_key(session, "nosuchkey000") is False
