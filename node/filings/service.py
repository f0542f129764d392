"""One place for the life of a filing after it arrives: answer, return, refile.

``plan.filing`` (node.plans) and ``report.filing`` (node.reports) are checked by their own
domains; both then call :func:`answer`. :func:`return_filing` returns either kind;
:func:`refiling_due` is the refiling clock for both.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.errors import BadRequest, Conflict, NotFound
from node.models import Filing, LedgerEntry, ReceivedReport
from node.protocol.directory import load_directory
from node.protocol.outbox import emit
from node.runtime import NodeRuntime
from sync import Directory, format_ts


async def answer(
    session: AsyncSession, rt: NodeRuntime, d: Directory, *, filing_id: str, filer: str,
    filing_type: str, kind: str, year: int | None, subject: str, received_at: datetime,
    due_on: date, outcome: str, late_days: int, findings: list[dict[str, Any]],
    reasons: str | None, decided_by: str,
) -> str:
    """Send the signed receipt down to the filer, record the timeliness facts here and send
    them up to every ancestor as a ledger entry. Returns the receipt envelope id."""
    facts = {"received_at": format_ts(received_at), "due_on": due_on.isoformat(),
             "outcome": outcome, "timeliness": "late" if late_days else "on_time",
             "late_days": late_days}
    receipt: dict[str, Any] = {"filing_id": filing_id, "filer": filer, **facts,
                               "findings": findings}
    if reasons:
        receipt["reasons"] = reasons
    env = await emit(session, rt, type="filing.receipt", recipient=filer, scope="node",
                     body=receipt, directory=d)
    ledger_id = env["id"]
    what: dict[str, Any] = {"kind": kind, **({"year": year} if year is not None else {})}
    if d.parent is not None:  # the same fact, under the same id, at every ancestor
        led = await emit(session, rt, type="ledger.entry", recipient=rt.cfg.code,
                         scope="ancestors",
                         body={"filing_id": filing_id, "filing_type": filing_type,
                               "subject": subject, "filer": filer, "receiver": rt.cfg.code,
                               **what, **facts},
                         directory=d)
        ledger_id = led["id"]
    session.add(LedgerEntry(envelope_id=ledger_id, filing_id=filing_id, filing_type=filing_type,
                            kind=kind, year=year, subject=subject, filer=filer,
                            receiver=rt.cfg.code, received_at=received_at, due_on=due_on,
                            outcome=outcome, late_days=late_days))
    await record(session=session, actor=decided_by, action=f"filing.{outcome}",
                 entity=filing_type, entity_id=filing_id,
                 after={"filer": filer, "subject": subject, "late_days": late_days})
    return str(env["id"])


async def refiling_due(session: AsyncSession, *, filer: str, refiling_of: str | None,
                       due: date, plan_id: str | None = None, kind: str | None = None,
                       year: int | None = None) -> date:
    """The refiling clock: a refiling keeps the due date of the filing it answers (the
    clock keeps running) — only if that filing is the filer's own, about the same plan (or
    the same kind and year of report), was returned, and no accepted refiling has answered
    it yet; otherwise ``due``. So no filing can borrow another one's due date, and a later
    revision filed after an accepted refiling is a new filing with its own due date."""
    if not refiling_of:
        return due
    if plan_id is not None:
        plan = await session.get(Filing, refiling_of)
        ok = (plan is not None and plan.filer == filer and plan.plan_id == plan_id
              and plan.outcome == "returned")
        answered = await session.scalar(select(func.count()).select_from(Filing).where(
            Filing.refiling_of == refiling_of, Filing.outcome == "accepted"))
        return plan.due_on if ok and not answered and plan is not None else due
    report = await session.get(ReceivedReport, refiling_of)
    ok = (report is not None and report.filer == filer and report.kind == kind
          and report.year == year and report.outcome == "returned")
    answered = await session.scalar(select(func.count()).select_from(ReceivedReport).where(
        ReceivedReport.refiling_of == refiling_of, ReceivedReport.outcome == "accepted"))
    return report.due_on if ok and not answered and report is not None else due


async def return_filing(*, session: AsyncSession, rt: NodeRuntime, filing_id: str,
                        reasons: str, actor: str) -> None:
    """A reviewer sends a filing (a plan or an annual report filed directly here) back for
    correction, with reasons; the filer gets a signed 'returned' receipt."""
    if not reasons.strip():
        raise BadRequest("请说明退回理由 say why the filing is returned (reasons)")
    d = await load_directory(session, rt.cfg.code)
    plan = await session.get(Filing, filing_id)
    if plan is not None:
        if plan.outcome == "returned":
            raise Conflict(f"filing {filing_id} was already returned")
        newer = await session.scalar(select(func.count()).select_from(Filing).where(
            Filing.refiling_of == filing_id))
        if newer:
            raise Conflict(f"filing {filing_id} was already superseded by a refiling")
        plan.outcome, plan.reasons, plan.decided_by = "returned", reasons.strip(), actor
        plan.receipt_envelope_id = await answer_plan(session, rt, d, plan)
        return
    rep = await session.get(ReceivedReport, filing_id)
    if rep is None or not rep.direct:
        raise NotFound(f"no filing {filing_id} filed directly with this office")
    if rep.outcome == "returned":
        raise Conflict(f"report {filing_id} was already returned")
    rep.outcome, rep.reasons, rep.decided_by = "returned", reasons.strip(), actor
    rep.receipt_envelope_id = await answer_report(session, rt, d, rep)


async def list_plan_filings(session: AsyncSession) -> list[dict[str, Any]]:
    """Plan filings received from child offices, oldest first, with due date, lateness and
    outcome (what `GET /api/v1/filings` and `plansync filings list` show)."""
    rows = (await session.scalars(select(Filing).order_by(Filing.received_at))).all()
    return [filing_view(f) for f in rows]


def filing_view(f: Filing) -> dict[str, Any]:
    return {"id": f.id, "filer": f.filer, "plan_id": f.plan_id, "version": f.version,
            "released_on": f.released_on.isoformat(), "due_on": f.due_on.isoformat(),
            "received_at": format_ts(f.received_at), "late_days": f.late_days,
            "outcome": f.outcome, "findings": f.findings, "reasons": f.reasons,
            "refiling_of": f.refiling_of, "decided_by": f.decided_by}


async def answer_plan(session: AsyncSession, rt: NodeRuntime, d: Directory, f: Filing) -> str:
    return await answer(
        session, rt, d, filing_id=f.id, filer=f.filer, filing_type="plan.filing", kind=f.kind,
        year=None, subject=f"{f.plan_id} v{f.version}", received_at=f.received_at,
        due_on=f.due_on, outcome=f.outcome, late_days=f.late_days, findings=f.findings or [],
        reasons=f.reasons, decided_by=f.decided_by)


async def answer_report(session: AsyncSession, rt: NodeRuntime, d: Directory,
                        r: ReceivedReport) -> str:
    return await answer(
        session, rt, d, filing_id=r.id, filer=r.filer, filing_type="report.filing",
        kind=r.kind, year=r.year, subject=f"{r.kind} {r.year}", received_at=r.received_at,
        due_on=r.due_on, outcome=r.outcome, late_days=r.late_days, findings=[],
        reasons=r.reasons, decided_by=r.decided_by)
