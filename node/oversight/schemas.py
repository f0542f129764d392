"""What the oversight endpoints return (node.oversight.endpoints)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from node.reports.schemas import FilingAnswer, TimelinessStatus
from node.schema_types import IsoDate, NodeCode, Timestamp

Level = Literal["national", "province", "city", "county"]
What = Literal["plan", "report", "evaluation"]
Bucket = Literal["already_met", "on_track", "at_risk", "off_target", "no_data"]


class StatusCounts(BaseModel):
    overdue: int
    not_enrolled: int
    returned: int
    late: int
    pending: int
    on_time: int


class LevelRate(BaseModel):
    level: Level
    what: Literal["plan", "report"]
    expected: int
    due: int = Field(description="expected and due by today")
    filed: int
    on_time: int
    reporting_rate: float | None = Field(description="filed / due, never above 1")
    on_time_rate: float | None = Field(description="on time / due, never above 1")


class SilentOffice(BaseModel):
    code: NodeCode
    name: str
    level: Level
    last_contact_at: Timestamp | None


class TreeNode(BaseModel):
    code: NodeCode
    name: str
    level: Level
    parent: str | None
    status: TimelinessStatus = Field(description="the most urgent status of its filings")
    counts: StatusCounts


class Overview(BaseModel):
    year: int
    generated_on: IsoDate
    plans: StatusCounts
    reports: StatusCounts
    evaluations: StatusCounts = Field(description="mid-term (2025) and final (2030) "
                                      "evaluation reports expected so far, by status; not "
                                      "in by_level's rates")
    by_level: list[LevelRate]
    open_warnings: int
    silent: list[SilentOffice] = Field(description="offices not heard from for 30 days")
    tree: list[TreeNode]


class AuditRow(BaseModel):
    code: NodeCode
    name: str
    level: Level
    parent: str | None
    city: str | None = Field(description="the city the office belongs to (itself for a city)")
    filing: str = Field(description="plan.<kind>, report.<kind>.<year> or "
                        "evaluation.<kind>.<stage>: with code, what identifies the row")
    what: What = Field(description="plan 规划备案, report 年度报告, evaluation 评估报告 "
                       "(中期 2025, 终期 2030)")
    kind: Literal["women", "children"]
    year: int | None = Field(description="the report year, or the evaluation's stage; "
                             "None for a plan")
    due_on: IsoDate | None
    received_at: Timestamp | None
    receiver: str | None
    status: TimelinessStatus
    late_days: int | None = Field(description="days late; for an overdue filing, so far")
    history: list[FilingAnswer]


class Office(BaseModel):
    code: NodeCode
    name: str


class FilingsPage(BaseModel):
    total: int
    page: int
    size: int
    rows: list[AuditRow]
    cities: list[Office] = Field(description="the cities of the subtree (for the filter)")
    years: list[int] = Field(description="the report years expected so far")


class OfficeRead(BaseModel):
    code: NodeCode
    name: str
    level: Level
    parent: str | None
    relation: str = Field(description="self, parent, child or descendant")


class IndicatorStatus(BaseModel):
    code: str
    name: str
    unit: str
    comparator: str
    target: float
    direction: str
    bucket: Bucket
    series: list[tuple[int, float]] = Field(description="(year, value), oldest first")
    warnings: list[dict[str, Any]]


class OfficeBuckets(BaseModel):
    code: NodeCode
    name: str
    counts: dict[str, int]


class IndicatorBuckets(BaseModel):
    scope: NodeCode
    kind: Literal["women", "children"]
    counts: dict[str, int] = Field(description="indicators per bucket: already_met 提前达标, "
                                   "on_track 预计可达标, at_risk 达标困难, off_target 未达标, "
                                   "no_data 无数据")
    indicators: list[IndicatorStatus]
    offices: list[OfficeBuckets] = Field(description="the same counts for each office of "
                                         "the subtree that reported")


class SeriesPoint(BaseModel):
    year: int
    value: float | None
    numerator: float | None
    denominator: float | None
    coverage: str


class IndicatorSeries(BaseModel):
    code: str
    name: str
    unit: str
    comparator: str
    target: float
    points: list[SeriesPoint]
    children: dict[str, float | None] = Field(description="each child's value in `year`")
    year: int


class DeadLetter(BaseModel):
    seq: int
    envelope_id: str
    type: str | None
    error: str | None
    attempts: int
    created_at: Timestamp


class Neighbour(BaseModel):
    code: NodeCode
    name: str
    level: Level
    relation: Literal["parent", "child"]
    base_url: str | None
    last_contact_at: Timestamp | None
    pending: int
    oldest_pending_at: Timestamp | None
    oldest_pending_seconds: float | None
    dead: list[DeadLetter]
    key_id: str | None = Field(description="the key this node holds for the neighbour")
    frameworks: dict[str, int] = Field(description="kind → newest framework version "
                                       "delivered to this child")


class SyncHealth(BaseModel):
    neighbours: list[Neighbour]
    own_frameworks: dict[str, int]
    key_transparency: dict[str, Any] = Field(description="the last check that every "
                                             "ancestor holds this node's key")


class RetryIn(BaseModel):
    seq: int | None = Field(default=None, ge=1, le=2**53)
    target: NodeCode | None = None


class Retried(BaseModel):
    retried: int
