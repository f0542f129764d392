"""Mid-term (2025) and final (2030) evaluations (中期评估, 终期评估) of an office's plans."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Evaluation(Base):
    """This office's evaluation of one plan kind at one stage (2025: mid-term, 2030: final)."""

    __tablename__ = "evaluations"
    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # "<code>-<kind>-<stage>"
    kind: Mapped[str] = mapped_column(String(10))
    stage: Mapped[int] = mapped_column(Integer)  # 2025 | 2030
    status: Mapped[str] = mapped_column(String(12))  # draft | filed | returned
    summary: Mapped[str] = mapped_column(Text, default="")  # 评估报告正文 (summary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_envelope_id: Mapped[str | None] = mapped_column(String(36))


class EvaluationOverride(Base):
    """The office's own category for one indicator, replacing the proposed one, with why."""

    __tablename__ = "evaluation_overrides"
    evaluation_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvaluationSelf(Base):
    """A member unit's self-evaluation (自评) of one indicator it is responsible for."""

    __tablename__ = "evaluation_self"
    evaluation_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    unit: Mapped[str] = mapped_column(String(100), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReceivedEvaluation(Base):
    """An evaluation report filed by a node of the subtree: from a direct child (with a
    receipt) or relayed from further down."""

    __tablename__ = "received_evaluations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # envelope id
    filer: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    stage: Mapped[int] = mapped_column(Integer)
    direct: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_on: Mapped[date] = mapped_column(Date)
    late_days: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # accepted | returned | relayed
    reasons: Mapped[str | None] = mapped_column(Text)
    refiling_of: Mapped[str | None] = mapped_column(String(36))
    items: Mapped[Any] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    receipt_envelope_id: Mapped[str | None] = mapped_column(String(36))
