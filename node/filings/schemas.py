"""What the filings API (/api/v1/filings, plans filed by children and by this office) takes
and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from node.models import SentFiling
from node.plans.schemas import Finding
from node.schema_types import IsoDate, NodeCode, Timestamp
from sync import format_ts

Outcome = Literal["accepted", "returned"]


class ReturnIn(BaseModel):
    reasons: str = Field(description="why the filing goes back (退回理由), sent to the filer")


class Returned(BaseModel):
    id: str
    outcome: Literal["returned"]


class FilingRead(BaseModel):
    """A plan filed here by a child office."""

    id: str = Field(description="the filing envelope's id")
    filer: NodeCode
    plan_id: str
    version: int
    released_on: IsoDate
    due_on: IsoDate
    received_at: Timestamp
    late_days: int
    outcome: Outcome
    findings: list[Finding]
    reasons: str | None
    refiling_of: str | None = Field(description="the returned filing this one replaces")
    decided_by: str = Field(description="auto-check, or the reviewer who returned it")


class FilingReceipt(BaseModel):
    """The parent's signed answer (the body of its filing.receipt envelope)."""

    model_config = ConfigDict(extra="allow")

    filing_id: str
    filer: NodeCode
    received_at: Timestamp
    outcome: Outcome
    due_on: IsoDate | None = None
    timeliness: Literal["on_time", "late"] | None = None
    late_days: int | None = None
    findings: list[dict[str, Any]] | None = Field(
        default=None, description="the parent's compliance findings (as Finding)")
    reasons: str | None = None


class SentFilingRead(BaseModel):
    """A plan filing this office sent to its parent, and the parent's answer."""

    id: str = Field(description="the filing envelope's id")
    plan_id: str
    version: int
    sent_at: Timestamp
    outcome: Outcome | None = Field(description="null until the parent answers")
    receipt: FilingReceipt | None

    @classmethod
    def of(cls, s: SentFiling) -> SentFilingRead:
        return cls.model_validate({
            "id": s.envelope_id, "plan_id": s.plan_id, "version": s.version,
            "sent_at": format_ts(s.sent_at), "outcome": s.outcome, "receipt": s.receipt})


class FilingDetail(FilingRead):
    """A plan filed here by a child office, with the filed document itself."""

    kind: Literal["women", "children"]
    title: str
    document: dict[str, Any] = Field(description="the filed plan document (as the filer "
                                     "signed it)")


class SentReportRead(BaseModel):
    """An annual report this office filed with its parent, and the parent's answer."""

    id: str = Field(description="the filing envelope's id")
    kind: Literal["women", "children"]
    year: int
    status: Literal["filed", "returned"]
    sent_at: Timestamp | None
    outcome: Outcome | None = Field(description="null until the parent answers")
    receipt: FilingReceipt | None
