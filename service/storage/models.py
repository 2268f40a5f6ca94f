"""Tables. Every change here is an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.runtime.job_states import QUEUED


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key: ``gg_<key_id>_<secret>``; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Graph(Base):
    """A compiled graph: the plan's arrays in one blob, node ids in ``graph_chunks``."""

    __tablename__ = "graphs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    n_inputs: Mapped[int] = mapped_column(Integer)
    n_constants: Mapped[int] = mapped_column(Integer)
    n_gates: Mapped[int] = mapped_column(Integer)
    n_edges: Mapped[int] = mapped_column(BigInteger)
    # Large columns load only when used (deferred): a page of nodes must not drag in a 20 MB plan.
    outputs: Mapped[str] = mapped_column(Text, deferred=True)  # JSON list of output ids
    plan: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # the Plan's arrays (graph.plan_blob)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_graphs_tenant_created", "tenant_id", "created_at", "id"),)

    @property
    def n_nodes(self) -> int:
        return self.n_inputs + self.n_constants + self.n_gates


class GraphChunk(Base):
    """Node ids and kinds of ``CHUNK_NODES`` consecutive nodes of a graph."""

    __tablename__ = "graph_chunks"
    graph_id: Mapped[str] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    ids: Mapped[str] = mapped_column(Text)  # JSON list of node ids
    codes: Mapped[bytes] = mapped_column(LargeBinary)  # one byte a node (graph_rows.node_codes)


class GraphBucket(Base):
    """Node id -> node number, for the ids whose hash falls in this bucket."""

    __tablename__ = "graph_buckets"
    graph_id: Mapped[str] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[str] = mapped_column(Text)  # JSON [[ids], [node numbers]], in matching order


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    graph_id: Mapped[str] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    batch_size: Mapped[int] = mapped_column(Integer)
    batched: Mapped[bool] = mapped_column(Boolean, default=False)
    check_gradients: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # input matrix and output grads (job_blobs)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(16))
    progress: Mapped[float | None] = mapped_column(Float)
    chunk_nodes: Mapped[int | None] = mapped_column(Integer)  # nodes per result chunk
    outputs: Mapped[str | None] = mapped_column(Text, deferred=True)  # rows before migration 0003 only (job_blobs)
    output_values: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # once succeeded (job_blobs)
    gradient_check: Mapped[str | None] = mapped_column(Text, deferred=True)  # when asked for (job_blobs)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)  # kept this long after it ends (JOB_TTL or less)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # set when it ends
    stored_numbers: Mapped[int | None] = mapped_column(BigInteger)  # values, gradients (and tangents) stored
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # the Celery task running it

    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
        Index("ix_jobs_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_jobs_status_tenant_created", "status", "tenant_id", "created_at"),
        Index("ix_jobs_expires_at", "expires_at"),
    )


class JobChunk(Base):
    """Values and gradients (float64, ``chunk_nodes`` x batch) of consecutive nodes of a job.

    With their tangents and the gradients' tangents when the job had a direction, else NULL.
    """

    __tablename__ = "job_chunks"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    values: Mapped[bytes] = mapped_column(LargeBinary)
    grads: Mapped[bytes] = mapped_column(LargeBinary)
    tangents: Mapped[bytes | None] = mapped_column(LargeBinary)
    grad_tangents: Mapped[bytes | None] = mapped_column(LargeBinary)


class Webhook(Base):
    """A tenant's callback endpoint; its secret is stored sealed (Fernet), never in the clear."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(String(128))  # comma-separated event types
    secret: Mapped[str] = mapped_column(Text)  # sealed with WEBHOOK_SECRET_KEYS (webhooks.signing.SecretBox)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_webhooks_tenant_created", "tenant_id", "created_at", "id"),)


class WebhookDelivery(Base):
    """One event owed to one endpoint, queued in the transaction that ended its job; retried until delivered."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id header: the same on every retry
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(36))  # not a foreign key: a deleted job's event is still owed
    graph_id: Mapped[str] = mapped_column(String(36))
    event: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed (given up), canceled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)  # the event's time
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # its message was sent then
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a sender holds it until then
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_deliveries_webhook_created", "webhook_id", "created_at", "id"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )


class WebhookAttempt(Base):
    """Every attempt of a delivery, as it went: the receiver's status, or why there was none."""

    __tablename__ = "webhook_attempts"
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)
