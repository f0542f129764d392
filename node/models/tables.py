from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(100))  # member unit (成员单位), e.g. 卫健委
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # "api" (scripts, no expiry) or "session" (the console's sign-in cookie, expires)
    kind: Mapped[str] = mapped_column(String(10), default="api", server_default="api")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Append-only, hash-chained record of every state change."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(80))
    entity: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[str] = mapped_column(String(120))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class OwnKey(Base):
    """This node's signing keys over time (private key only on disk, current one)."""

    __tablename__ = "own_keys"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KnownNode(Base):
    """A node this node knows: itself, its ancestors, its enrolled children and their subtree."""

    __tablename__ = "nodes"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(6), index=True)
    relation: Mapped[str] = mapped_column(String(12))  # self|parent|ancestor|child|descendant
    base_url: Mapped[str | None] = mapped_column(String(300))
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feed_cursor: Mapped[int] = mapped_column(BigId, default=0)  # for the parent: our cursor
    # outbox/feed epoch (docs/protocol.md, Restored nodes): on the self row this node's own
    # (random, replaced by `plansync restore`); on a neighbour's row the last one it showed
    epoch: Mapped[str | None] = mapped_column(String(32))
    # self row only: set by `plansync restore` (node with a parent); until the node has read
    # its parent's feed to the end once, it answers pushes 503 (docs/protocol.md)
    resync_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NodeKey(Base):
    __tablename__ = "node_keys"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # active: verifies signatures; pending: announced by a key recovery, waiting for an admin
    # of this node to confirm it (plansync keys confirm); until then it verifies nothing
    status: Mapped[str] = mapped_column(String(10), default="active", server_default="active")
    # once retired: content hashes of what this key signed before its rotation and may still
    # be in transit (the rotation lists them); a retired key verifies nothing else
    carry: Mapped[Any] = mapped_column(JSON, nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(120))


class Invite(Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a recovery invite replaces the key of an already enrolled child that lost its key
    recovery: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class EnvelopeRecord(Base):
    """Every envelope this node accepted or created (the inbox and the sent store)."""

    __tablename__ = "envelopes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(String(6), index=True)
    recipient_code: Mapped[str] = mapped_column(String(6))
    scope: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    local: Mapped[bool] = mapped_column(Boolean)  # addressed to (applied at) this node
    raw: Mapped[Any] = mapped_column(JSON)
    receipt: Mapped[Any] = mapped_column(JSON)
    # this node's own envelope, given back by a neighbour after a restore and not yet used
    # again (node.protocol.outbox.emit reuses it instead of signing a second answer)
    reclaimed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false",
                                            index=True)


class OutboxRow(Base):
    """One envelope to deliver to one neighbour. Downward rows are also the child's feed."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_feed", "target_code", "direction", "seq"),
    )
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    envelope_id: Mapped[str] = mapped_column(ForeignKey("envelopes.id"))
    target_code: Mapped[str] = mapped_column(String(6))
    direction: Mapped[str] = mapped_column(String(4))  # up|down
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
