"""What the member units' reports API (/api/v1/unit-reports) takes and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from node.schema_types import IsoDate, Timestamp
from node.units.service import TEXT_MAX, UnitStatus
from sync import format_ts

Status = Literal["not_submitted", "submitted", "returned", "accepted"]


class UnitReportIn(BaseModel):
    """A member unit's yearly report: 落实情况 and 下一年工作安排."""

    implementation: str = Field(min_length=1, max_length=TEXT_MAX, description="落实情况")
    next_year: str = Field(min_length=1, max_length=TEXT_MAX, description="下一年工作安排")


class UnitReturnIn(BaseModel):
    reason: str = Field(min_length=1, max_length=TEXT_MAX, description="退回理由")


class UnitReportRead(BaseModel):
    unit: str
    status: Status = Field(description="未提交 / 已提交 / 退回 / 已采纳")
    due_on: IsoDate
    overdue_days: int = Field(description="days past due so far (not submitted or returned), "
                              "or days late at submission")
    late: bool = Field(description="on the chase list (past due, not (re)submitted)")
    submitted_at: Timestamp | None
    submitted_by: str | None
    return_reason: str | None
    decided_by: str | None
    implementation: str
    next_year: str

    @classmethod
    def of(cls, s: UnitStatus) -> UnitReportRead:
        d = s.as_dict()
        d["submitted_at"] = format_ts(s.submitted_at) if s.submitted_at else None
        return cls.model_validate(d)


class UnitReportsRead(BaseModel):
    kind: Literal["women", "children"]
    year: int
    due_on: IsoDate
    units: list[UnitReportRead]
    chase: list[UnitReportRead] = Field(description="催报: the late units, most overdue first")


class OfficeDraft(BaseModel):
    report_id: str
    units: list[str] = Field(description="the accepted units' reports used")
    filled: list[str] = Field(description="areas whose narrative was empty and got the draft")
    skipped: list[str] = Field(description="areas the office had written: left alone")
    next_year: Literal["filled", "skipped"]
    unplaced: list[str] = Field(description="units linked to no area (their text is not "
                                "placed; add them to the task table)")
