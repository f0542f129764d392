"""Member units' yearly reports to their office (责任单位每年向同级妇儿工委报告规划落实情况和下一年
工作安排, seeds 002 and 004).

For each plan kind and year every member unit of the office submits its implementation
(落实情况) and next year's arrangements (下一年工作安排) by a due date: ``lead_days`` (the
office's ``PLANSYNC_UNIT_REPORT_LEAD_DAYS``, default 30) before the office's own annual report
is due. Status per unit: 未提交 (no row) / 已提交 / 退回 / 已采纳, with days overdue. The office
returns a submission with a reason or accepts it; the accepted ones are the starting draft of
its own annual report (:func:`draft_office_report`, never overwriting what the office wrote).

The member units are those of the office's users with role member_unit, and those its
plan's task table (node.plans.tasks) and indicators name. A member-unit user sees and submits
only its own unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.auth.service import Perm, Role, allows
from node.errors import BadRequest, Conflict, Forbidden, NotFound
from node.models import ReportNarrative, UnitReport, User
from node.plans.dates import late_days
from node.plans.document import KINDS
from node.plans.tasks import area_leads, is_member_unit_name, named_units, rows_of, unit_key
from node.reports.service import FIRST_YEAR, LAST_YEAR, get_report, own_document, report_due
from sync import utcnow

DEFAULT_LEAD_DAYS = 30
TEXT_MAX = 20_000
STATUS_WORDS = {"not_submitted": "未提交", "submitted": "已提交", "returned": "退回",
                "accepted": "已采纳"}


@dataclass
class UnitStatus:
    unit: str
    status: str  # not_submitted | submitted | returned | accepted
    due_on: str
    overdue_days: int  # days past due so far (not submitted / returned), or late at submission
    late: bool  # on the chase list: past due and not (re)submitted
    submitted_at: datetime | None
    submitted_by: str | None
    return_reason: str | None
    decided_by: str | None
    implementation: str
    next_year: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_kind_year(kind: str, year: int) -> None:
    if kind not in KINDS:
        raise BadRequest(f"kind must be women or children, not {kind!r}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadRequest(f"year must be within the plan period {FIRST_YEAR}–{LAST_YEAR}")


async def unit_due(session: AsyncSession, code: str, kind: str, year: int,
                   lead_days: int = DEFAULT_LEAD_DAYS) -> date:
    """When the member units' reports for ``year`` are due: ``lead_days`` before the office's
    own annual report (its framework's annual_report_due of year + 1)."""
    return await report_due(session, code, kind, year) - timedelta(days=lead_days)


async def member_units(session: AsyncSession, code: str, kind: str) -> list[str]:
    """The office's member units for a plan kind: its member-unit users' units first, then
    every other unit its task table and indicators name (one per unit_key)."""
    names = [u for u in (await session.scalars(select(User.unit).where(
        User.role == Role.member_unit.value, User.disabled.is_(False))
        .order_by(User.name))).all() if u]
    doc = await own_document(session, code, kind)
    names += named_units(await rows_of(session, f"{code}-{kind}"), doc)
    out: dict[str, str] = {}
    for n in names:
        if is_member_unit_name(n):
            out.setdefault(unit_key(n), n.strip())
    return list(out.values())


def _own(user: User, unit: str) -> None:
    """A member-unit user acts only for its own unit; the office's editors may act for any."""
    if user.role == Role.member_unit.value:
        if not user.unit or unit_key(user.unit) != unit_key(unit):
            raise Forbidden(f"成员单位用户只能查看和报送本单位的报告 a member unit's user sees and "
                            f"submits only its own unit's report ({user.unit or '-'}), "
                            f"not {unit}'s")
        return
    if not allows(user.role, Perm.read):
        raise Forbidden(f"role {user.role} may not see member units' reports")


async def _known_unit(session: AsyncSession, code: str, kind: str, unit: str) -> str:
    """The unit as the office spells it; BadRequest for a unit the office does not have."""
    units = await member_units(session, code, kind)
    for u in units:
        if unit_key(u) == unit_key(unit):
            return u
    raise BadRequest(f"{unit!r} 不是本级成员单位 is not a member unit of this office "
                     f"({'、'.join(units) or 'none yet: add member-unit users or a task table'})",
                     code="unknown_unit")


async def _row(session: AsyncSession, kind: str, year: int, unit: str) -> UnitReport | None:
    return await session.scalar(select(UnitReport).where(
        UnitReport.kind == kind, UnitReport.year == year, UnitReport.unit_key == unit_key(unit)))


def _status(unit: str, row: UnitReport | None, due: date, today: date) -> UnitStatus:
    waiting = row is None or row.status == "returned"
    overdue = max(0, (today - due).days) if waiting else (row.late_days if row else 0)
    return UnitStatus(
        unit=unit, status=row.status if row else "not_submitted", due_on=due.isoformat(),
        overdue_days=overdue, late=waiting and today > due,
        submitted_at=row.submitted_at if row else None,
        submitted_by=row.submitted_by if row else None,
        return_reason=row.return_reason if row else None,
        decided_by=row.decided_by if row else None,
        implementation=row.implementation if row else "",
        next_year=row.next_year if row else "")


async def statuses(*, session: AsyncSession, code: str, kind: str, year: int, user: User,
                   today: date, lead_days: int = DEFAULT_LEAD_DAYS) -> list[UnitStatus]:
    """Every member unit's report for the year and its status (a member-unit user: only its
    own unit's)."""
    _check_kind_year(kind, year)
    due = await unit_due(session, code, kind, year, lead_days)
    units = await member_units(session, code, kind)
    if user.role == Role.member_unit.value:
        units = [u for u in units if user.unit and unit_key(u) == unit_key(user.unit)]
    else:
        _own(user, "")
    rows = {r.unit_key: r for r in (await session.scalars(select(UnitReport).where(
        UnitReport.kind == kind, UnitReport.year == year))).all()}
    names = {unit_key(u) for u in units}
    extra = [r.unit for k, r in rows.items() if k not in names and (
        user.role != Role.member_unit.value or k == unit_key(user.unit or ""))]
    return [_status(u, rows.get(unit_key(u)), due, today) for u in [*units, *extra]]


async def chase_list(*, session: AsyncSession, code: str, kind: str, year: int, user: User,
                     today: date, lead_days: int = DEFAULT_LEAD_DAYS) -> list[UnitStatus]:
    """The units that are late: past the due date with no report, or returned and not
    resubmitted — most overdue first."""
    rows = await statuses(session=session, code=code, kind=kind, year=year, user=user,
                          today=today, lead_days=lead_days)
    return sorted((r for r in rows if r.late), key=lambda r: (-r.overdue_days, r.unit))


async def get_unit_report(*, session: AsyncSession, code: str, kind: str, year: int,
                          unit: str, user: User, today: date,
                          lead_days: int = DEFAULT_LEAD_DAYS) -> UnitStatus:
    _check_kind_year(kind, year)
    _own(user, unit)
    name = await _known_unit(session, code, kind, unit)
    return _status(name, await _row(session, kind, year, name),
                   await unit_due(session, code, kind, year, lead_days), today)


async def submit(*, session: AsyncSession, code: str, kind: str, year: int, unit: str,
                 implementation: str, next_year: str, user: User, now: datetime,
                 zone: ZoneInfo, lead_days: int = DEFAULT_LEAD_DAYS) -> UnitStatus:
    """Submit (or, after a return, resubmit) a unit's yearly report. The unit's own users,
    or the office's editors on its behalf; an accepted report is final."""
    _check_kind_year(kind, year)
    if user.role not in (Role.member_unit.value, Role.admin.value, Role.editor.value):
        raise Forbidden(f"role {user.role} may not submit a member unit's report")
    _own(user, unit)
    implementation, next_year = implementation.strip(), next_year.strip()
    if not implementation:
        raise BadRequest("落实情况不能为空 the implementation (落实情况) is empty")
    if not next_year:
        raise BadRequest("下一年工作安排不能为空 next year's arrangements are empty")
    if len(implementation) > TEXT_MAX or len(next_year) > TEXT_MAX:
        raise BadRequest(f"each text holds at most {TEXT_MAX} characters")
    if "\x00" in implementation + next_year:
        raise BadRequest("含有空字符 the text contains a NUL character")
    name = await _known_unit(session, code, kind, unit)
    due = await unit_due(session, code, kind, year, lead_days)
    row = await _row(session, kind, year, name)
    if row is not None and row.status == "accepted":
        raise Conflict(f"{name} 的 {year} 年度报告已采纳 is accepted already; it no longer "
                       "changes", code="unit_report_accepted")
    if row is not None and row.status == "submitted":
        raise Conflict(f"{name} 的 {year} 年度报告已提交 is submitted and awaits the office; it "
                       "can change once the office returns it", code="unit_report_submitted")
    before = None
    if row is None:
        row = UnitReport(kind=kind, year=year, unit=name, unit_key=unit_key(name))
        session.add(row)
    else:
        before = {"status": row.status}
    row.implementation, row.next_year = implementation, next_year
    row.status, row.due_on, row.late_days = "submitted", due, late_days(now, due, zone)
    row.submitted_by, row.submitted_at = user.name, now
    row.decided_by, row.decided_at = None, None
    await session.flush()
    await record(session=session, actor=user.name, action="unit_report.submit",
                 entity="unit_report", entity_id=f"{kind}-{year}/{name}", before=before,
                 after={"late_days": row.late_days})
    return _status(name, row, due, now.astimezone(zone).date())


async def decide(*, session: AsyncSession, code: str, kind: str, year: int, unit: str,
                 outcome: str, reason: str | None, user: User, today: date,
                 lead_days: int = DEFAULT_LEAD_DAYS) -> UnitStatus:
    """The office returns a submitted report with a reason (退回) or accepts it (采纳)."""
    _check_kind_year(kind, year)
    if not allows(user.role, Perm.filings_review):
        raise Forbidden(f"role {user.role} may not return or accept member units' reports "
                        "(needs filings.review)")
    if outcome not in ("returned", "accepted"):
        raise BadRequest("outcome must be returned or accepted")
    reason = (reason or "").strip()
    if outcome == "returned" and not reason:
        raise BadRequest("退回需写明理由 a return needs its reason")
    if "\x00" in reason or len(reason) > TEXT_MAX:
        raise BadRequest(f"the reason holds at most {TEXT_MAX} characters, no NUL")
    name = await _known_unit(session, code, kind, unit)
    row = await _row(session, kind, year, name)
    if row is None:
        raise NotFound(f"{name} has not submitted its {year} report yet")
    if row.status != "submitted":
        raise Conflict(f"{name} 的 {year} 年度报告状态为 {STATUS_WORDS[row.status]}: only a "
                       "submitted report can be returned or accepted", code="unit_report_state")
    row.status, row.decided_by, row.decided_at = outcome, user.name, utcnow()
    if outcome == "returned":
        row.return_reason = reason
    await session.flush()
    await record(session=session, actor=user.name, action=f"unit_report.{outcome}",
                 entity="unit_report", entity_id=f"{kind}-{year}/{name}",
                 after={"reason": reason or None})
    return _status(name, row, await unit_due(session, code, kind, year, lead_days), today)


async def draft_office_report(*, session: AsyncSession, code: str, kind: str, year: int,
                              user: User) -> dict[str, Any]:
    """Start the office's own annual report from its units' *accepted* reports: each area's
    narrative gets the implementation text of the units that lead it (task table, else the
    indicators' 牵头单位), a unit leading no area goes to the first area it is responsible for,
    and next year's arrangements get every unit's. An area (or the arrangements) the office
    has already written is left alone and listed as skipped — never overwritten."""
    _check_kind_year(kind, year)
    if not allows(user.role, Perm.plans_edit):
        raise Forbidden(f"role {user.role} may not edit the office's report (needs plans.edit)")
    doc = await own_document(session, code, kind)
    if doc is None:
        raise Conflict(f"no {kind} plan at this office yet: import or draft one first")
    accepted = (await session.scalars(select(UnitReport).where(
        UnitReport.kind == kind, UnitReport.year == year, UnitReport.status == "accepted")
        .order_by(UnitReport.submitted_at))).all()
    if not accepted:
        raise Conflict("还没有已采纳的成员单位报告 no member unit's report is accepted yet")
    rep = await get_report(session, code, kind, year, create=True)
    if rep.status == "filed":
        raise Conflict(f"report {rep.id} is filed; it can change only if the parent returns it")
    rows = await rows_of(session, f"{code}-{kind}")
    leads = area_leads(rows, doc)
    texts: dict[str, list[str]] = {a.name: [] for a in doc.areas}
    unplaced: list[str] = []
    for r in accepted:
        areas = [a for a, us in leads.items() if any(unit_key(u) == r.unit_key for u in us)]
        if not areas:
            areas = [a.name for a in doc.areas if any(
                unit_key(u) == r.unit_key for t in rows if a.name in (t.section, t.content)
                for u in t.responsible_units) or any(
                unit_key(u) == r.unit_key for i in doc.indicators if i.area == a.name
                for u in i.responsible_units)][:1]
        if not areas:
            unplaced.append(r.unit)
        for a in areas:
            texts[a].append(f"【{r.unit}】{r.implementation}")
    filled, skipped = [], []
    for area, parts in texts.items():
        if not parts:
            continue
        row = await session.get(ReportNarrative, (rep.id, area))
        if row is not None and row.text.strip():
            skipped.append(area)
            continue
        if row is None:
            row = ReportNarrative(report_id=rep.id, area=area)
            session.add(row)
        row.text, row.entered_by, row.entered_at = "\n\n".join(parts), user.name, utcnow()
        filled.append(area)
    next_text = "\n".join(f"【{r.unit}】{r.next_year}" for r in accepted)
    next_year = "skipped" if rep.next_year.strip() else "filled"
    if next_year == "filled":
        rep.next_year = next_text
    rep.updated_at = utcnow()
    await session.flush()
    result = {"report_id": rep.id, "units": [r.unit for r in accepted], "filled": filled,
              "skipped": skipped, "next_year": next_year, "unplaced": unplaced}
    await record(session=session, actor=user.name, action="report.draft_from_units",
                 entity="report", entity_id=rep.id, after=result)
    return result
