"""What the evaluations API (/api/v1/evaluations) takes and returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from node.reports.schemas import TimelinessRow
from node.schema_types import IsoDate, NodeCode, Timestamp, one_of

Category = Literal["ahead", "on_track", "at_risk", "met", "missed", "no_data"]
CATEGORY = one_of(("ahead", "on_track", "at_risk", "met", "missed", "no_data"))
EvaluationStatus = Literal["draft", "filed", "returned"]

# ---- requests -------------------------------------------------------------------------------


class OverrideIn(BaseModel):
    """The office's own category for an indicator, with why (null category: back to the
    proposed one)."""

    category: str | None = Field(default=None, max_length=20,
                                 json_schema_extra={"enum": [*CATEGORY["enum"], None]},
                                 description="提前达标 ahead, 预计可达标 on_track, "
                                             "达标困难 at_risk (mid-term); 已达标 met (final); "
                                             "未达标 missed; 无数据 no_data")
    reason: str | None = Field(default=None, max_length=2000,
                               description="why (required with a category)")


class SelfItemIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    category: str = Field(max_length=20, json_schema_extra=CATEGORY)
    text: str = Field(default="", max_length=20_000, description="自评说明")


class SelfIn(BaseModel):
    """A member unit's self-evaluation (自评) of indicators it leads or is responsible for."""

    unit: str | None = Field(default=None, max_length=100,
                             description="the member unit (a member-unit user: its own, "
                                         "which is the default)")
    items: list[SelfItemIn] = Field(min_length=1, max_length=2000)


class SummaryIn(BaseModel):
    text: str = Field(max_length=100_000)


# ---- answers --------------------------------------------------------------------------------


class SelfRead(BaseModel):
    unit: str
    category: Category
    text: str
    submitted_by: str
    submitted_at: Timestamp


class ItemRead(BaseModel):
    code: str
    name: str
    area: str
    unit: str
    comparator: str
    target: float
    value: float | None = Field(description="the latest value up to the stage year")
    year: int | None
    years: int = Field(description="how many yearly values the proposal rests on")
    proposed: Category
    category: Category
    overridden: bool
    reason: str | None
    decided_by: str | None
    units: list[str] = Field(description="lead and responsible units (牵头、责任单位)")
    self: list[SelfRead]


class UnitProgress(BaseModel):
    unit: str
    indicators: int
    submitted: int
    done: bool


class EvaluationRead(BaseModel):
    id: str
    kind: Literal["women", "children"]
    stage: int
    status: EvaluationStatus
    summary: str
    due_on: IsoDate
    filed_envelope_id: str | None
    categories: list[Category] = Field(description="the categories of this stage")
    items: list[ItemRead]
    units: list[UnitProgress]
    counts: dict[str, int]


class SelfSaved(BaseModel):
    saved: int


class Saved(BaseModel):
    status: Literal["ok"]


class EvaluationFiled(BaseModel):
    id: str
    status: EvaluationStatus
    envelope_id: str | None


class ReceivedItem(BaseModel):
    code: str
    category: Category
    proposed: Category | None = None
    reason: str | None = None
    value: float | None = None
    year: int | None = None


class ReceivedEvaluationRead(BaseModel):
    id: str = Field(description="the filing's envelope id")
    filer: NodeCode
    kind: Literal["women", "children"]
    stage: int
    direct: bool = Field(description="filed by a direct child (else relayed from below)")
    due_on: IsoDate
    received_at: Timestamp
    late_days: int
    outcome: Literal["accepted", "returned", "relayed"]
    reasons: str | None
    refiling_of: str | None
    summary: str
    items: list[ReceivedItem]
    counts: dict[str, int]


class AggregateRow(BaseModel):
    code: str
    name: str
    area: str
    counts: dict[str, int]
    children: dict[str, Category]


class AggregateRead(BaseModel):
    kind: Literal["women", "children"]
    stage: int
    under: NodeCode
    children: list[str]
    filed: list[str]
    missing: list[str]
    indicators: list[AggregateRow]


class EvaluationAudit(BaseModel):
    """The timeliness audit of the subtree's evaluation reports (rows as the timeliness
    audit's: ``filing`` is ``evaluation.<kind>.<stage>``, ``year`` the stage)."""

    root: NodeCode
    generated_on: IsoDate
    rows: list[TimelinessRow]
    counts: dict[str, int] = Field(description="rows per status")
