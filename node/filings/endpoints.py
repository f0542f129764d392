"""/api/v1: one filed plan with its document, and this office's filed annual reports with the
parent's signed receipts (what the console's 下级报送 and 报送 pages open)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, require
from node.errors import NotFound
from node.filings.schemas import FilingDetail, SentReportRead
from node.filings.service import filing_view
from node.models import EnvelopeRecord, Filing, Report
from node.schema_types import ROLE_CHECKED, errors
from sync import format_ts

router = APIRouter(prefix="/api/v1", tags=["filings"])


@router.get("/filings/{filing_id}", summary="备案详情 One plan filed by a child office",
            responses={**ROLE_CHECKED, **errors(404)})
async def get_filing(filing_id: str = Path(max_length=36),
                     session: AsyncSession = SessionDep,
                     _: Any = Depends(require(Perm.read))) -> FilingDetail:
    """A child's plan filing with due date, lateness, findings, outcome and the filed
    document, to read beside the frameworks it must meet."""
    f = await session.get(Filing, filing_id)
    if f is None:
        raise NotFound(f"没有这份备案 no filing {filing_id} was received here")
    return FilingDetail.model_validate({**filing_view(f), "kind": f.kind, "title": f.title,
                                        "document": f.document})


@router.get("/reports/sent", summary="已报送的年度报告 Annual reports this office filed",
            responses=ROLE_CHECKED)
async def get_sent_reports(session: AsyncSession = SessionDep,
                           _: Any = Depends(require(Perm.read))) -> list[SentReportRead]:
    """Each annual report filed with the parent (newest year first), and the parent's
    signed receipt once it answered: received at, due date, on time or late, reasons."""
    reps = (await session.scalars(select(Report).where(
        Report.filed_envelope_id.is_not(None)).order_by(Report.year.desc(),
                                                        Report.kind))).all()
    ids = {r.filed_envelope_id for r in reps}
    sent = {e.id: e for e in (await session.scalars(select(EnvelopeRecord).where(
        EnvelopeRecord.id.in_(ids)))).all()} if ids else {}
    receipts: dict[str, dict[str, Any]] = {}
    for e in (await session.scalars(select(EnvelopeRecord).where(
            EnvelopeRecord.type == "filing.receipt", EnvelopeRecord.local.is_(True))
            .order_by(EnvelopeRecord.received_at))).all():
        body = (e.raw or {}).get("body") or {}
        if body.get("filing_id") in ids:
            receipts[body["filing_id"]] = body  # the newest answer wins
    out = []
    for r in reps:
        fid = r.filed_envelope_id or ""
        env = sent.get(fid)
        rc = receipts.get(fid)
        out.append(SentReportRead.model_validate({
            "id": fid, "kind": r.kind, "year": r.year,
            "status": "returned" if r.status == "returned" else "filed",
            "sent_at": format_ts(env.created_at) if env else None,
            "outcome": rc.get("outcome") if rc else None, "receipt": rc}))
    return out
