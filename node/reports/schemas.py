"""What the reports API (/api/v1/reports, aggregates, early warnings, the timeliness audit)
takes and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from node.models import ReceivedReport
from node.plans.document import KINDS
from node.schema_types import IsoDate, NodeCode, Timestamp, one_of
from sync import format_ts

KIND = one_of(KINDS)
Format = Literal["json", "csv", "xlsx"]
VALUE_MAX = 1e15  # far beyond any indicator; keeps sums finite and exactly signable


def _number() -> Any:
    return Field(default=None, ge=-VALUE_MAX, le=VALUE_MAX, allow_inf_nan=False)


# ---- requests -------------------------------------------------------------------------------


class ValueIn(BaseModel):
    """An indicator's value, or its numerator and denominator (rates are computed)."""

    value: float | None = _number()
    numerator: float | None = _number()
    denominator: float | None = _number()


class TextIn(BaseModel):
    text: str


# ---- answers --------------------------------------------------------------------------------


class ValueRead(BaseModel):
    code: str
    value: float | None
    numerator: float | None
    denominator: float | None


class NarrativeSaved(BaseModel):
    area: str


class NarrativeRead(BaseModel):
    area: str
    text: str


class Saved(BaseModel):
    status: Literal["ok"]


ReportStatus = Literal["draft", "compiled", "filed", "returned"]  # returned: sent back


class Compiled(BaseModel):
    id: str
    status: ReportStatus
    aggregated: int = Field(description="indicators filled from the children's reports")


class ReportFiled(BaseModel):
    id: str
    status: ReportStatus
    envelope_id: str | None


class ReportRead(BaseModel):
    status: ReportStatus
    report_id: str
    kind: Literal["women", "children"]
    year: int
    values: list[ValueRead]
    narratives: list[NarrativeRead]
    next_year: str = Field(description="next year's work plan (下一年工作安排)")


class ReceivedReportRead(BaseModel):
    id: str = Field(description="the report's envelope id")
    filer: NodeCode
    kind: Literal["women", "children"]
    year: int
    direct: bool = Field(description="filed by a direct child (else relayed from below)")
    due_on: IsoDate
    received_at: Timestamp
    late_days: int
    outcome: Literal["accepted", "returned", "relayed"]
    reasons: str | None

    @classmethod
    def of(cls, r: ReceivedReport) -> ReceivedReportRead:
        return cls.model_validate({
            "id": r.id, "filer": r.filer, "kind": r.kind, "year": r.year, "direct": r.direct,
            "due_on": r.due_on.isoformat(), "received_at": format_ts(r.received_at),
            "late_days": r.late_days, "outcome": r.outcome, "reasons": r.reasons})


class FigureRead(BaseModel):
    """One indicator aggregated over the children (node.reports.aggregate)."""

    code: str
    name: str
    unit: str
    method: Literal["ratio", "sum", "mean", "min", "max", "none"]
    value: float | None
    numerator: float | None
    denominator: float | None
    coverage: str = Field(description="reported/expected, e.g. 3/4")
    reported: list[str]
    missing: list[str]
    children: dict[str, float | None] = Field(description="child code → its value (drill-down)")
    note: str


class WarningRead(BaseModel):
    """An early warning (预警) for this node's or a subtree node's series."""

    scope: NodeCode = Field(description="whose series")
    code: str
    name: str
    kind: Literal["off_target", "projected_miss", "volatile"]
    detail: str
    latest_year: int
    latest_value: float


# not_enrolled (未接入): the office never enrolled and the filing is past due (see
# node.audit.timeliness); overdue (超期未报): enrolled, past due, nothing filed
TimelinessStatus = Literal["on_time", "late", "returned", "overdue", "not_enrolled", "pending"]


class TimelinessRow(BaseModel):
    code: NodeCode
    name: str
    level: Literal["national", "province", "city", "county"]
    parent: str | None
    filing: str = Field(description="plan.<kind> or report.<kind>.<year>")
    due_on: IsoDate | None
    received_at: Timestamp | None
    receiver: str | None
    status: TimelinessStatus
    late_days: int | None
    kind: Literal["women", "children"]
    year: int | None = Field(description="the report year; null for a plan filing")
    history: list[FilingAnswer] = Field(description="every answer, oldest first: returns "
                                        "and the refilings that followed")


class FilingAnswer(BaseModel):
    received_at: Timestamp
    outcome: Literal["accepted", "returned"]
    late_days: int
    receiver: str


class TimelinessRate(BaseModel):
    group: str = Field(description="a node code (by_node) or a level (by_level)")
    expected: int
    due: int
    on_time: int
    late: int
    returned: int
    overdue: int
    not_enrolled: int = Field(description="past due at an office that never enrolled "
                              "(counted in due: it lowers the rates)")
    pending: int
    on_time_rate: float | None
    reporting_rate: float | None


class Timeliness(BaseModel):
    """The timeliness audit (督查) of a subtree (node.audit.timeliness)."""

    root: NodeCode
    generated_on: IsoDate
    rows: list[TimelinessRow]
    by_node: list[TimelinessRate]
    by_level: list[TimelinessRate]
