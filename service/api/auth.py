"""API keys: ``gg_<key id>_<secret>``, stored as SHA-256 only, checked in constant time.

A key is 32 random bytes: a fast hash is enough (there is nothing to brute-force), and the key
id lets the lookup be a primary-key read. Keys are shown once, at creation, and never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service.storage.models import ApiKey, Tenant, utcnow

from .problems import ApiProblem

_KEY = re.compile(r"^gg_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Caller:
    tenant_id: int
    key_id: str


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, tenant_name: str, label: str | None = None) -> str:
    """Create a key for a tenant (creating the tenant if new); return the key, the only time it exists."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        tenant = Tenant(name=tenant_name, created_at=utcnow())
        session.add(tenant)
        session.flush()
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    key = f"gg_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(key_id=key_id, tenant_id=tenant.id, key_hash=_digest(key), label=label, created_at=utcnow()))
    session.commit()
    return key


def revoke_key(session: Session, key_id: str) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.commit()
    return True


def list_keys(session: Session) -> list[tuple[str, str, str | None, str, str | None]]:
    """(tenant, key id, label, created, revoked) for every key: never the key itself."""
    rows = session.execute(
        select(Tenant.name, ApiKey.key_id, ApiKey.label, ApiKey.created_at, ApiKey.revoked_at)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .order_by(Tenant.name, ApiKey.created_at)
    ).all()
    return [(t, k, label, str(c), str(r) if r else None) for t, k, label, c, r in rows]


# Built once: every request runs it.
_KEY_ROW = select(ApiKey.tenant_id, ApiKey.key_id, ApiKey.key_hash, ApiKey.revoked_at).where(ApiKey.key_id == bindparam("key_id"))


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="gategraph"'}, type_="unauthorized")


def authenticate(session: Session, header: str | None) -> Caller:
    """The caller of a request from its Authorization header. :raise ApiProblem: 401."""
    if not header:
        raise _unauthorized("an API key is required: send Authorization: Bearer <key>")
    scheme, _, key = header.partition(" ")
    match = _KEY.match(key.strip()) if scheme.lower() == "bearer" else None
    if match is None:
        raise _unauthorized("the Authorization header must be 'Bearer <key>' with a gategraph key")
    row = session.execute(_KEY_ROW, {"key_id": match.group(1)}).one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, _digest(key.strip())):
        raise _unauthorized("this API key is not valid")
    if row.revoked_at is not None:
        raise _unauthorized("this API key has been revoked")
    return Caller(tenant_id=row.tenant_id, key_id=row.key_id)
