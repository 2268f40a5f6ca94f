"""API keys in the database: create, list, revoke, and verify; ``gg_<key id>_<secret>``, stored as SHA-256 only.

A key is 32 random bytes: a fast hash is enough (there is nothing to brute-force), and the key
id lets the lookup be a primary-key read. Keys are shown once, at creation, and never logged;
they are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .models import ApiKey, Tenant, utcnow

KEY_PATTERN = re.compile(r"^gg_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")
_KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class Caller:
    """Whose request it is: the tenant, and the key it came with."""

    tenant_id: int
    key_id: str


class KeyRefused(Exception):
    """A key that is malformed, unknown, or revoked; the message says which."""


@dataclass(frozen=True)
class KeyInfo:
    """A key as operators see it: never the key itself."""

    tenant: str
    key_id: str
    label: str | None
    created_at: str
    revoked_at: str | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, tenant_name: str, label: str | None = None) -> str:
    """Create and commit a key for a tenant (creating the tenant if new); return the key, the only time it exists."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        tenant = Tenant(name=tenant_name, created_at=utcnow())
        session.add(tenant)
        session.flush()
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(12))
    key = f"gg_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(key_id=key_id, tenant_id=tenant.id, key_hash=_digest(key), label=label, created_at=utcnow()))
    session.commit()
    return key


def revoke_key(session: Session, key_id: str) -> bool:
    """Revoke and commit; False if there is no active key with this id."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.commit()
    return True


def list_keys(session: Session) -> list[KeyInfo]:
    """Every key, by tenant and age."""
    rows = session.execute(
        select(Tenant.name, ApiKey.key_id, ApiKey.label, ApiKey.created_at, ApiKey.revoked_at)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .order_by(Tenant.name, ApiKey.created_at)
    ).all()
    return [KeyInfo(t, k, label, str(c), str(r) if r else None) for t, k, label, c, r in rows]


# Built once: every request runs it.
_KEY_ROW = select(ApiKey.tenant_id, ApiKey.key_id, ApiKey.key_hash, ApiKey.revoked_at).where(
    ApiKey.key_id == bindparam("key_id")
)


def verify_key(session: Session, key: str) -> Caller:
    """The caller a key belongs to. :raise KeyRefused: malformed, unknown or revoked."""
    key = key.strip()
    match = KEY_PATTERN.match(key)
    if match is None:
        raise KeyRefused("malformed")
    row = session.execute(_KEY_ROW, {"key_id": match.group(1)}).one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, _digest(key)):
        raise KeyRefused("unknown")
    if row.revoked_at is not None:
        raise KeyRefused("revoked")
    return Caller(tenant_id=row.tenant_id, key_id=row.key_id)
