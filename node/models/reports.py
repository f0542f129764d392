from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Report(Base):
    """This node's annual report for one plan kind and year (年度实施情况报告)."""

    __tablename__ = "reports"
    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # "<code>-<kind>-<year>"
    kind: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # draft | compiled | filed
    next_year: Mapped[str] = mapped_column(Text, default="")  # 下一年工作安排
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    filed_envelope_id: Mapped[str | None] = mapped_column(String(36))


class ReportValue(Base):
    __tablename__ = "report_values"
    report_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20))  # entered | aggregated
    entered_by: Mapped[str] = mapped_column(String(100))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportNarrative(Base):
    __tablename__ = "report_narratives"
    report_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    area: Mapped[str] = mapped_column(String(100), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(100))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReceivedReport(Base):
    """An annual report filed by a node of the subtree: from a direct child (with a receipt)
    or relayed from further down (kept for drill-down)."""

    __tablename__ = "received_reports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # envelope id
    filer: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer, index=True)
    direct: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_on: Mapped[date] = mapped_column(Date)
    late_days: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # accepted | returned | relayed
    reasons: Mapped[str | None] = mapped_column(Text)
    refiling_of: Mapped[str | None] = mapped_column(String(36))
    values: Mapped[Any] = mapped_column(JSON)
    narratives: Mapped[Any] = mapped_column(JSON)
    next_year: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    receipt_envelope_id: Mapped[str | None] = mapped_column(String(36))
