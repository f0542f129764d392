from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime


class Plan(Base):
    """This node's plan of one kind (women/children): the working draft and its workflow."""

    __tablename__ = "plans"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "<code>-<kind>"
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    document: Mapped[Any] = mapped_column(JSON)
    consultation_round: Mapped[int] = mapped_column(Integer, default=0)
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PlanVersion(Base):
    """A published version: immutable, kept forever."""

    __tablename__ = "plan_versions"
    plan_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    document: Mapped[Any] = mapped_column(JSON)
    released_on: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(100))
    findings: Mapped[Any] = mapped_column(JSON)
    override_reason: Mapped[str | None] = mapped_column(Text)
    release_envelope_id: Mapped[str | None] = mapped_column(String(36))
    filing_envelope_id: Mapped[str | None] = mapped_column(String(36))


class PlanEvent(Base):
    """Who did each workflow step, and when."""

    __tablename__ = "plan_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(40), index=True)
    step: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    round: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class PlanComment(Base):
    """A member unit's comment in a consultation round (征求意见)."""

    __tablename__ = "plan_comments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(40), index=True)
    round: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(100))
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Framework(Base):
    """An ancestor's released plan, as received (one row per version)."""

    __tablename__ = "frameworks"
    origin: Mapped[str] = mapped_column(String(6), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    framework_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    released_on: Mapped[date] = mapped_column(Date)
    document: Mapped[Any] = mapped_column(JSON)
    envelope_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # what changed against the version this node had, and what it breaks in this node's plan
    diff: Mapped[Any] = mapped_column(JSON)
    breaks: Mapped[Any] = mapped_column(JSON)
    # the newest version of (origin, kind) here; an older version arriving later is history
    current: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


class Filing(Base):
    """A filing received from a child (at the parent)."""

    __tablename__ = "filings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the filing envelope id
    filer: Mapped[str] = mapped_column(String(6), index=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    released_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    late_days: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # accepted | returned
    findings: Mapped[Any] = mapped_column(JSON)
    reasons: Mapped[str | None] = mapped_column(Text)
    refiling_of: Mapped[str | None] = mapped_column(String(36))
    document: Mapped[Any] = mapped_column(JSON)
    decided_by: Mapped[str] = mapped_column(String(100))
    receipt_envelope_id: Mapped[str | None] = mapped_column(String(36))


class SentFiling(Base):
    """A filing this node sent to its parent, and the parent's signed answer."""

    __tablename__ = "sent_filings"
    envelope_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(10))
    receipt: Mapped[Any | None] = mapped_column(JSON)
    receipt_envelope_id: Mapped[str | None] = mapped_column(String(36))


class LedgerEntry(Base):
    """Timeliness facts of one receipt anywhere in this node's subtree."""

    __tablename__ = "ledger"
    envelope_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filing_id: Mapped[str] = mapped_column(String(36), index=True)
    filing_type: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(10))  # women | children
    year: Mapped[int | None] = mapped_column(Integer)  # report year; None for plans
    subject: Mapped[str | None] = mapped_column(String(200))
    filer: Mapped[str] = mapped_column(String(6), index=True)
    receiver: Mapped[str] = mapped_column(String(6))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(10))
    late_days: Mapped[int] = mapped_column(Integer)
