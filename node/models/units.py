"""Member units' yearly reports to their office (成员单位年度报告) and a plan's task
decomposition table (任务分解表)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime


class UnitReport(Base):
    """One member unit's yearly report to this office for a plan kind and year: its
    implementation (落实情况) and next year's arrangements (下一年工作安排). No row: 未提交."""

    __tablename__ = "unit_reports"
    __table_args__ = (UniqueConstraint("kind", "year", "unit_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(100))  # as the unit spells itself
    unit_key: Mapped[str] = mapped_column(String(100))  # node.plans.tasks.unit_key
    implementation: Mapped[str] = mapped_column(Text)
    next_year: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # submitted | returned | accepted
    due_on: Mapped[date] = mapped_column(Date)
    late_days: Mapped[int] = mapped_column(Integer)  # at the (latest) submission
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    return_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskRow(Base):
    """A row of a plan's task decomposition table (seed 001: 序号, 规划内容, 牵头单位,
    责任单位), in the order of the table; ``section`` groups rows (an area such as 妇女与健康,
    or a part such as 组织与实施)."""

    __tablename__ = "plan_tasks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(40), index=True)
    position: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    lead_unit: Mapped[str] = mapped_column(String(100))
    responsible_units: Mapped[Any] = mapped_column(JSON)  # list[str]
    indicators: Mapped[Any] = mapped_column(JSON)  # list[str]: linked indicator codes
