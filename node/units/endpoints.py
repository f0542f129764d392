"""/api/v1/unit-reports: member units' yearly reports to their office (成员单位年度报告).
What each endpoint takes and returns is in node.units.schemas; the rules in
node.units.service."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, get_rt, require
from node.models import User
from node.plans.document import KINDS
from node.reports.service import FIRST_YEAR, LAST_YEAR
from node.runtime import NodeRuntime
from node.schema_types import ROLE_CHECKED, errors, one_of
from node.units import service
from node.units.schemas import (
    OfficeDraft,
    UnitReportIn,
    UnitReportRead,
    UnitReportsRead,
    UnitReturnIn,
)
from sync import utcnow

router = APIRouter(prefix="/api/v1", tags=["unit-reports"])
Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR,
                           description=f"a year of the plan period {FIRST_YEAR}–{LAST_YEAR}")]
Kind = Annotated[str, Path(max_length=10, description="women | children",
                           json_schema_extra=one_of(KINDS))]
Unit = Annotated[str, Path(max_length=100, description="a member unit, e.g. 卫健委")]
UNIT = {**ROLE_CHECKED, **errors(404)}
UNIT_CHANGE = {**UNIT, **errors(409)}


def _today(rt: NodeRuntime) -> date:
    return utcnow().astimezone(rt.cfg.zone).date()


@router.get("/unit-reports/{kind}/{year}", summary="成员单位报告 Member units' reports",
            responses=ROLE_CHECKED)
async def list_unit_reports(kind: Kind, year: Year, session: AsyncSession = SessionDep,
                            rt: NodeRuntime = Depends(get_rt),
                            user: User = Depends(require(Perm.read))) -> UnitReportsRead:
    """Each member unit's yearly report (落实情况, 下一年工作安排) with its status and days
    overdue, and the chase list (催报) of late units. A member-unit user sees its own unit."""
    lead = rt.settings.unit_report_lead_days
    rows = await service.statuses(session=session, code=rt.cfg.code, kind=kind, year=year,
                                  user=user, today=_today(rt), lead_days=lead)
    due = await service.unit_due(session, rt.cfg.code, kind, year, lead)
    chase = sorted((r for r in rows if r.late), key=lambda r: (-r.overdue_days, r.unit))
    return UnitReportsRead.model_validate({
        "kind": kind, "year": year, "due_on": due.isoformat(),
        "units": [UnitReportRead.of(r) for r in rows],
        "chase": [UnitReportRead.of(r) for r in chase]})


@router.get("/unit-reports/{kind}/{year}/units/{unit}",
            summary="本单位报告 One member unit's report", responses=UNIT)
async def get_unit_report(kind: Kind, year: Year, unit: Unit,
                          session: AsyncSession = SessionDep,
                          rt: NodeRuntime = Depends(get_rt),
                          user: User = Depends(require(Perm.read))) -> UnitReportRead:
    """One unit's yearly report and status (a member-unit user: only its own, 403
    otherwise)."""
    return UnitReportRead.of(await service.get_unit_report(
        session=session, code=rt.cfg.code, kind=kind, year=year, unit=unit, user=user,
        today=_today(rt), lead_days=rt.settings.unit_report_lead_days))


@router.put("/unit-reports/{kind}/{year}/units/{unit}",
            summary="提交成员单位报告 Submit a member unit's report", responses=UNIT_CHANGE)
async def put_unit_report(kind: Kind, year: Year, unit: Unit, req: UnitReportIn,
                          session: AsyncSession = SessionDep,
                          rt: NodeRuntime = Depends(get_rt),
                          user: User = Depends(require(Perm.reports_enter))
                          ) -> UnitReportRead:
    """Submit the unit's implementation and next year's arrangements (again after a
    return). A member-unit user submits only its own unit's; the office's editors may
    submit on a unit's behalf. An accepted or pending report is 409."""
    return UnitReportRead.of(await service.submit(
        session=session, code=rt.cfg.code, kind=kind, year=year, unit=unit,
        implementation=req.implementation, next_year=req.next_year, user=user,
        now=utcnow(), zone=rt.cfg.zone, lead_days=rt.settings.unit_report_lead_days))


@router.post("/unit-reports/{kind}/{year}/units/{unit}/return",
             summary="退回成员单位报告 Return a unit's report", responses=UNIT_CHANGE)
async def return_unit_report(kind: Kind, year: Year, unit: Unit, req: UnitReturnIn,
                             session: AsyncSession = SessionDep,
                             rt: NodeRuntime = Depends(get_rt),
                             user: User = Depends(require(Perm.filings_review))
                             ) -> UnitReportRead:
    """Send a submitted report back to the unit with the reason; it resubmits."""
    return UnitReportRead.of(await service.decide(
        session=session, code=rt.cfg.code, kind=kind, year=year, unit=unit,
        outcome="returned", reason=req.reason, user=user, today=_today(rt),
        lead_days=rt.settings.unit_report_lead_days))


@router.post("/unit-reports/{kind}/{year}/units/{unit}/accept",
             summary="采纳成员单位报告 Accept a unit's report", responses=UNIT_CHANGE)
async def accept_unit_report(kind: Kind, year: Year, unit: Unit,
                             session: AsyncSession = SessionDep,
                             rt: NodeRuntime = Depends(get_rt),
                             user: User = Depends(require(Perm.filings_review))
                             ) -> UnitReportRead:
    """Accept a submitted report: it becomes part of the office's own annual report."""
    return UnitReportRead.of(await service.decide(
        session=session, code=rt.cfg.code, kind=kind, year=year, unit=unit,
        outcome="accepted", reason=None, user=user, today=_today(rt),
        lead_days=rt.settings.unit_report_lead_days))


@router.post("/unit-reports/{kind}/{year}/draft",
             summary="据成员单位报告起草本级报告 Draft the office's report from the units'",
             responses={**ROLE_CHECKED, **errors(409)})
async def draft_office_report(kind: Kind, year: Year, session: AsyncSession = SessionDep,
                              rt: NodeRuntime = Depends(get_rt),
                              user: User = Depends(require(Perm.plans_edit))) -> OfficeDraft:
    """Fill the office's annual report narratives (by area) and next year's arrangements
    from the accepted units' reports, as a starting draft; text the office wrote already is
    never overwritten (listed as skipped)."""
    return OfficeDraft.model_validate(await service.draft_office_report(
        session=session, code=rt.cfg.code, kind=kind, year=year, user=user))
