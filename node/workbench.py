"""工作台: what is due or overdue for this office and this user, soonest first.

Read-only; gathered from the domains' tables (plans, filings, reports, frameworks, the
ledger of the children's filings). Each item links to the console page where it is done.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.timeliness import (
    STAGES,
    evaluation_days_in_force,
    evaluation_due,
    expected_years,
    kinds_in_force,
    timeliness,
)
from node.auth.service import Perm, Role, allows
from node.models import (
    Evaluation,
    Filing,
    Framework,
    KnownNode,
    Plan,
    PlanVersion,
    ReceivedReport,
    Report,
    ReportValue,
    SentFiling,
    User,
)
from node.oversight.exports import KIND_WORDS, STAGE_WORDS, filing_words
from node.plans.dates import annual_report_due, plan_filing_due
from node.plans.document import PlanDocument
from node.reports.service import enterable
from node.units.service import chase_list
from sync import utcnow

RECENT = timedelta(days=30)


@dataclass
class TodoItem:
    kind: str  # plan_draft | plan_filing_due | filing_returned | report_due | values_missing
    #          | consultation | framework_breaks | child_overdue | child_filing | unit_late
    #          | evaluation_due | evaluation_returned
    title: str
    detail: str
    due_on: str | None
    days_left: int | None  # negative: overdue by that many days
    severity: str  # overdue | due | info
    link: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _item(kind: str, title: str, detail: str, link: str, due: date | None, today: date,
          severity: str | None = None) -> TodoItem:
    left = (due - today).days if due is not None else None
    sev = severity or ("info" if left is None else "overdue" if left < 0 else "due")
    return TodoItem(kind, title, detail, due.isoformat() if due else None, left, sev, link)


async def todo(session: AsyncSession, *, user: User, self_code: str, today: date,
               unit_lead_days: int = 30) -> list[TodoItem]:
    items: list[TodoItem] = []
    me = await session.get(KnownNode, self_code)
    has_parent = bool(me and me.parent_code)
    member = user.role == Role.member_unit.value
    plans = {p.kind: p for p in (await session.scalars(select(Plan).where(
        Plan.id.like(f"{self_code}-%")))).all()}
    frameworks = (await session.scalars(select(Framework).where(
        Framework.current.is_(True)))).all()

    # frameworks from above: start a plan, or fix what a new version breaks
    for fw in frameworks:
        if fw.origin == self_code:
            continue
        k = KIND_WORDS.get(fw.kind, fw.kind)
        if fw.kind not in plans and not member:
            items.append(_item("plan_draft", f"编制{k}发展规划",
                               f"上级已下发《{fw.title}》第 {fw.version} 版，"
                               "可据此开始编制本级规划",
                               "/plans", None, today))
        if fw.breaks and fw.kind in plans and not member:
            items.append(_item("framework_breaks", f"上级{k}框架变更影响本级规划",
                               f"《{fw.title}》第 {fw.version} 版："
                               f"{len(fw.breaks)} 项本级指标低于上级标准",
                               f"/plans/{plans[fw.kind].id}", None, today, "due"))

    for kind, plan in plans.items():
        k = KIND_WORDS.get(kind, kind)
        if plan.status == "consultation":
            who = f"请{user.unit or '本单位'}提出意见" if member else "请成员单位提出意见"
            items.append(_item("consultation",
                               f"{k}规划征求意见（第 {plan.consultation_round} 轮）", who,
                               f"/plans/{plan.id}", None, today))
        if member:
            continue
        if plan.status in ("submitted",) and allows(user.role, Perm.plans_approve):
            items.append(_item("plan_approve", f"{k}规划待审批", f"提交人：{plan.submitted_by}",
                               f"/plans/{plan.id}", None, today, "due"))
        if not has_parent or not plan.current_version:
            continue
        latest = await session.scalar(select(PlanVersion).where(
            PlanVersion.plan_id == plan.id).order_by(PlanVersion.version.desc()).limit(1))
        if latest is None:
            continue
        sent = await session.scalar(select(SentFiling).where(SentFiling.plan_id == plan.id)
                                    .order_by(SentFiling.sent_at.desc()).limit(1))
        if sent is None:
            items.append(_item("plan_filing_due", f"报送{k}规划（第 {latest.version} 版）",
                               "颁布后一个月内报上级备案", f"/plans/{plan.id}",
                               plan_filing_due(latest.released_on), today))
        elif sent.outcome == "returned":
            r = sent.receipt or {}
            due = r.get("due_on")
            items.append(_item("filing_returned", f"{k}规划被上级退回",
                               f"退回理由：{r.get('reasons') or '（未写明）'}。请修改后重新报送",
                               f"/plans/{plan.id}", date.fromisoformat(due) if due else None,
                               today, None if due else "due"))  # by the refiling due date

    # annual reports of this office: due, returned, and members' values still missing
    kinds = await kinds_in_force(session, self_code)
    for kind, mm_dd in kinds.items():
        k = KIND_WORDS.get(kind, kind)
        years = list(expected_years(today))[-2:]  # the last two report years
        for year in years:
            rep = await session.get(Report, f"{self_code}-{kind}-{year}")
            if rep is not None and rep.status == "filed":
                continue
            due = annual_report_due(year, mm_dd)  # a real month-day, 02-29 clamped
            if has_parent and not member:
                items.append(_item("report_due", f"{year} 年度{k}规划实施情况报告",
                                   "汇总成员单位数据后报上级", f"/reports/{kind}/{year}",
                                   due, today))
            if not member:  # member units whose yearly report to this office is late
                for late in await chase_list(session=session, code=self_code, kind=kind,
                                             year=year, user=user, today=today,
                                             lead_days=unit_lead_days):
                    what = "被退回未重交" if late.status == "returned" else "超期未交"
                    items.append(_item("unit_late", f"{late.unit}：{year} 年度{k}成员单位报告"
                                       f"{what}", "请催报成员单位", f"/unit-reports/{kind}/{year}",
                                       date.fromisoformat(late.due_on), today, "overdue"))
            own = plans.get(kind)
            if own is None:
                continue
            doc = PlanDocument.model_validate(own.document)
            entered = {v.code for v in (await session.scalars(select(ReportValue).where(
                ReportValue.report_id == f"{self_code}-{kind}-{year}"))).all()}
            missing: dict[str, int] = {}
            # a member unit: the indicators it may enter (task table, else the indicators' own
            # units: node.reports.service.enterable)
            mine = set((await enterable(session=session, code=self_code, kind=kind,
                                        user=user))[0]) if member else set()
            for ind in doc.indicators:
                unit = (user.unit or "") if member else ind.lead_unit or "本级妇儿工委办"
                if ind.code not in entered and (not member or ind.code in mine):
                    missing[unit] = missing.get(unit, 0) + 1
            for unit, n in sorted(missing.items()):
                items.append(_item("values_missing", f"{unit}：{year} 年 {n} 项{k}指标未填报",
                                   "成员单位填报本单位牵头指标的数值",
                                   f"/reports/{kind}/{year}", due, today))

    # the mid-term (2025) and final (2030) evaluation reports of this office: from the
    # stage year on until filed (node.evaluations), due on the framework's evaluation_due
    ev_days = await evaluation_days_in_force(session, self_code)
    if has_parent and not member:
        for kind, ev_day in ev_days.items():
            k = KIND_WORDS.get(kind, kind)
            for stage in (s for s in STAGES if s <= today.year):
                ev = await session.get(Evaluation, f"{self_code}-{kind}-{stage}")
                if ev is not None and ev.status == "filed":
                    continue
                title = f"{k}规划{STAGE_WORDS[stage]}"
                if ev is not None and ev.status == "returned":
                    items.append(_item("evaluation_returned", f"{title}被上级退回",
                                       "请修改后重新报送", f"/evaluation/{kind}/{stage}",
                                       evaluation_due(stage, ev_day), today))
                else:
                    items.append(_item("evaluation_due", title,
                                       "评估各项指标达标情况后报上级",
                                       f"/evaluation/{kind}/{stage}",
                                       evaluation_due(stage, ev_day), today))

    # children: who is overdue, and what arrived recently
    if not member and allows(user.role, Perm.read):
        last = today.year - 1
        # last year's reports, and the evaluations of every stage whose year has passed
        first = min([s for s in STAGES if s <= last] + [last])
        report_years = range(first, today.year) if last >= 2021 else range(0)
        try:
            t = await timeliness(session=session, self_code=self_code, today=today,
                                 report_years=report_years, kinds=kinds or None,
                                 evaluations=ev_days)
        except (KeyError, ValueError):
            t = {"rows": []}
        absent: dict[str, str] = {}  # children of the division tree that never enrolled
        for row in t["rows"]:
            if row["filing"].startswith("report.") and row["year"] != last:
                continue  # only last year's reports (earlier years: the audit page)
            if row["parent"] == self_code and row["status"] == "not_enrolled":
                absent[row["code"]] = row["name"]
            if row["parent"] != self_code or row["status"] not in ("overdue", "returned"):
                continue
            what = filing_words(row["filing"])
            if row["status"] == "overdue":
                items.append(_item("child_overdue", f"{row['name']} {what}超期未报",
                                   "请督促下级报送", "/filings/children",
                                   date.fromisoformat(row["due_on"]), today, "overdue"))
            else:
                items.append(_item("child_returned", f"{row['name']} {what}已退回，待重报",
                                   "等待下级修改后重新报送", "/filings/children", None, today))
        for code, name in sorted(absent.items()):  # one item per office, not per filing
            items.append(_item("child_not_enrolled", f"{name}（{code}）未接入",
                               "尚未入网，报送到期也无从报送：请邀请其入网", "/children",
                               None, today, "due"))
        since = utcnow() - RECENT
        names = {n.code: n.name for n in (await session.scalars(select(KnownNode))).all()}
        for f in (await session.scalars(select(Filing).where(
                Filing.received_at >= since, Filing.outcome == "accepted"))).all():
            if f.findings:
                kw = KIND_WORDS.get(f.kind, f.kind)
                items.append(_item("child_filing", f"{names.get(f.filer, f.filer)} 报送的"
                                   f"{kw}规划有 {len(f.findings)} 项审查意见",
                                   "请审查后决定是否退回", "/filings/children", None, today, "due"))
        for r in (await session.scalars(select(ReceivedReport).where(
                ReceivedReport.received_at >= since, ReceivedReport.direct.is_(True),
                ReceivedReport.outcome == "accepted"))).all():
            items.append(_item("child_filing", f"{names.get(r.filer, r.filer)} 报送了 {r.year} 年度"
                               f"{KIND_WORDS.get(r.kind, r.kind)}报告", "可查看或退回",
                               "/filings/children", None, today))

    order = {"overdue": 0, "due": 1, "info": 2}
    items.sort(key=lambda i: (order.get(i.severity, 3),
                              i.days_left if i.days_left is not None else 10**6, i.title))
    return items
