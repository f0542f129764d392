"""Annual reports: member units enter values and narratives, the office compiles (aggregating
its children's filed reports) and files upward; parents receive, receipt and return them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.divisions import division_children
from node.errors import BadRequest, Conflict, Forbidden, NotFound
from node.filings.service import answer_report, refiling_due
from node.models import (
    Filing,
    KnownNode,
    Plan,
    PlanVersion,
    ReceivedReport,
    Report,
    ReportNarrative,
    ReportValue,
    User,
)
from node.plans.dates import annual_report_due, late_days
from node.plans.document import KINDS, PlanDocument, parse_document
from node.plans.tasks import names_unit, units_for
from node.plans.units import value_problem
from node.protocol.directory import load_directory
from node.protocol.outbox import emit
from node.protocol.registry import Context
from node.reports.aggregate import Figure, Reported, aggregate
from node.runtime import NodeRuntime
from sync import utcnow

FIRST_YEAR, LAST_YEAR = 2021, 2030


def report_id(code: str, kind: str, year: int) -> str:
    return f"{code}-{kind}-{year}"


def _check_kind_year(kind: str, year: int) -> None:
    if kind not in KINDS:
        raise BadRequest(f"kind must be women or children, not {kind!r}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadRequest(f"year must be within the plan period {FIRST_YEAR}–{LAST_YEAR}")


async def own_document(session: AsyncSession, code: str, kind: str) -> PlanDocument | None:
    """This node's plan in force for ``kind``: its newest published version, else the draft."""
    pv = await session.scalar(select(PlanVersion).where(
        PlanVersion.plan_id == f"{code}-{kind}").order_by(PlanVersion.version.desc()).limit(1))
    if pv is not None:
        return parse_document(pv.document)
    plan = await session.get(Plan, f"{code}-{kind}")
    return parse_document(plan.document) if plan is not None else None


async def _require_doc(session: AsyncSession, code: str, kind: str) -> PlanDocument:
    doc = await own_document(session, code, kind)
    if doc is None:
        raise Conflict(f"no {kind} plan at this office yet: import or draft one first")
    return doc


async def get_report(session: AsyncSession, code: str, kind: str, year: int,
                     *, create: bool = False) -> Report:
    _check_kind_year(kind, year)
    rid = report_id(code, kind, year)
    rep = await session.get(Report, rid)
    if rep is None:
        if not create:
            raise NotFound(f"no {kind} report for {year} yet")
        rep = Report(id=rid, kind=kind, year=year, status="draft", next_year="",
                     updated_at=utcnow())
        session.add(rep)
        await session.flush()
    return rep


require_doc = _require_doc  # this office's plan document of a kind (Conflict without one)


def _editable(rep: Report) -> None:
    if rep.status == "filed":
        raise Conflict(f"report {rep.id} is filed; it can change only if the parent returns it")


def _may_enter(user: User, areas: set[str], units: set[str]) -> None:
    """A member unit enters only the parts for areas/indicators it leads or supports: as the
    plan's task table names them (node.plans.tasks.entering_units), else as the indicators'
    own 牵头单位/责任单位 say."""
    if user.role in ("admin", "editor"):
        return
    if user.role != "member_unit":
        raise Forbidden(f"role {user.role} may not enter report values")
    if not user.unit or not names_unit(units, user.unit):
        raise Forbidden(f"成员单位 {user.unit or '(none set)'} is neither the lead unit nor a "
                        f"responsible unit here (those are: {'、'.join(sorted(units)) or '-'})")


async def enterable(*, session: AsyncSession, code: str, kind: str, user: User
                    ) -> tuple[list[str], list[str]]:
    """The indicator codes and areas ``user`` may enter, by the rule of :func:`_may_enter`
    (the console shows a member unit only these)."""
    doc = await _require_doc(session, code, kind)
    named = await units_for(session, f"{code}-{kind}", doc)

    def allowed(units: set[str]) -> bool:
        try:
            _may_enter(user, set(), units)
        except Forbidden:
            return False
        return True

    codes = [i.code for i in doc.indicators if allowed(set(named.get(i.code, [])))]
    areas = [a.name for a in doc.areas if allowed(
        {u for i in doc.indicators if i.area == a.name for u in named.get(i.code, [])})]
    return codes, areas


async def enter_value(*, session: AsyncSession, code: str, kind: str, year: int,
                      indicator: str, user: User, value: float | None = None,
                      numerator: float | None = None,
                      denominator: float | None = None) -> ReportValue:
    doc = await _require_doc(session, code, kind)
    ind = doc.by_code().get(indicator)
    if ind is None:
        raise BadRequest(f"indicator {indicator} is not in this office's {kind} plan")
    _may_enter(user, {ind.area}, set((await units_for(session, f"{code}-{kind}", doc))
                                     .get(indicator, [])))
    problem = value_problem(code=indicator, unit=ind.unit, aggregation=ind.aggregation,
                            value=value, numerator=numerator, denominator=denominator)
    if problem is not None:
        raise BadRequest(f"数值无效 invalid value: {problem}", code="invalid_value")
    rep = await get_report(session, code, kind, year, create=True)
    _editable(rep)
    row = await session.get(ReportValue, (rep.id, indicator))
    before = None
    if row is None:
        row = ReportValue(report_id=rep.id, code=indicator)
        session.add(row)
    else:
        before = {"value": row.value, "numerator": row.numerator,
                  "denominator": row.denominator}
    row.value, row.numerator, row.denominator = value, numerator, denominator
    row.source, row.entered_by, row.entered_at = "entered", user.name, utcnow()
    rep.updated_at = utcnow()
    await session.flush()
    await record(session=session, actor=user.name, action="report.value", entity="report",
                 entity_id=f"{rep.id}/{indicator}", before=before,
                 after={"value": value, "numerator": numerator, "denominator": denominator})
    return row


async def enter_narrative(*, session: AsyncSession, code: str, kind: str, year: int, area: str,
                          text: str, user: User) -> None:
    doc = await _require_doc(session, code, kind)
    if area not in {a.name for a in doc.areas}:
        raise BadRequest(f"area {area!r} is not in this office's {kind} plan")
    named = await units_for(session, f"{code}-{kind}", doc)
    units = {u for i in doc.indicators if i.area == area for u in named.get(i.code, [])}
    _may_enter(user, {area}, units)
    rep = await get_report(session, code, kind, year, create=True)
    _editable(rep)
    row = await session.get(ReportNarrative, (rep.id, area))
    if row is None:
        row = ReportNarrative(report_id=rep.id, area=area)
        session.add(row)
    row.text, row.entered_by, row.entered_at = text, user.name, utcnow()
    await session.flush()
    await record(session=session, actor=user.name, action="report.narrative",
                 entity="report", entity_id=f"{rep.id}/{area}", after={"chars": len(text)})


async def set_next_year(*, session: AsyncSession, code: str, kind: str, year: int, text: str,
                        actor: str) -> None:
    rep = await get_report(session, code, kind, year, create=True)
    _editable(rep)
    rep.next_year = text
    rep.updated_at = utcnow()
    await record(session=session, actor=actor, action="report.next_year", entity="report",
                 entity_id=rep.id, after={"chars": len(text)})


async def children_of(session: AsyncSession, parent: str) -> list[str]:
    """The children ``parent`` is expected to have: those enrolled with it and those the
    division tree puts under it (node.divisions) that never enrolled — the real tree is the
    denominator of coverage (a city of nine counties is "x/9", never "x/enrolled")."""
    enrolled = set((await session.scalars(select(KnownNode.code).where(
        KnownNode.parent_code == parent))).all())
    return sorted(enrolled | set(division_children().get(parent, ())))


async def child_values(session: AsyncSession, children: list[str], kind: str, year: int
                       ) -> dict[str, dict[str, Reported]]:
    """The newest accepted (or, below the direct children, relayed) report of each child."""
    rows = (await session.scalars(select(ReceivedReport).where(
        ReceivedReport.filer.in_(children), ReceivedReport.kind == kind,
        ReceivedReport.year == year, ReceivedReport.outcome.in_(("accepted", "relayed")))
        .order_by(ReceivedReport.received_at))).all()
    out: dict[str, dict[str, Reported]] = {}
    for r in rows:  # later rows (refilings) replace earlier ones
        out[r.filer] = {v["code"]: Reported(v.get("value"), v.get("numerator"),
                                            v.get("denominator")) for v in r.values}
    return out


async def figures(*, session: AsyncSession, code: str, kind: str, year: int,
                  under: str | None = None) -> list[Figure]:
    """Aggregate the children of ``under`` (default: this node) for each indicator of this
    node's plan. At the province, ``under`` a city drills down to that city's counties."""
    doc = await _require_doc(session, code, kind)
    parent = under or code
    kids = await children_of(session, parent)
    if under is not None and under != code:
        known = await session.get(KnownNode, under)
        if known is None:
            raise NotFound(f"node {under} is not in this office's subtree")
    vals = await child_values(session, kids, kind, year)
    return [aggregate(i, kids, {c: vals.get(c, {}).get(i.code) for c in kids})
            for i in doc.indicators]


async def compile_report(*, session: AsyncSession, code: str, kind: str, year: int,
                         actor: str) -> tuple[Report, int]:
    """Fill every indicator nobody entered with the aggregate of the children's reports."""
    rep = await get_report(session, code, kind, year, create=True)
    _editable(rep)
    n = 0
    for fig in await figures(session=session, code=code, kind=kind, year=year):
        if fig.value is None:
            continue
        row = await session.get(ReportValue, (rep.id, fig.code))
        if row is not None and row.source == "entered":
            continue
        if row is None:
            row = ReportValue(report_id=rep.id, code=fig.code)
            session.add(row)
        row.value, row.numerator, row.denominator = fig.value, fig.numerator, fig.denominator
        row.source, row.entered_by, row.entered_at = "aggregated", actor, utcnow()
        n += 1
    rep.status = "compiled"
    rep.updated_at = utcnow()
    await session.flush()
    await record(session=session, actor=actor, action="report.compile", entity="report",
                 entity_id=rep.id, after={"aggregated": n})
    return rep, n


async def report_body(session: AsyncSession, rep: Report) -> dict[str, Any]:
    values = (await session.scalars(select(ReportValue).where(ReportValue.report_id == rep.id)
                                    .order_by(ReportValue.code))).all()
    narr = (await session.scalars(select(ReportNarrative).where(
        ReportNarrative.report_id == rep.id).order_by(ReportNarrative.area))).all()
    return {"report_id": rep.id, "kind": rep.kind, "year": rep.year,
            "values": [{"code": v.code, "value": v.value, "numerator": v.numerator,
                        "denominator": v.denominator} for v in values],
            "narratives": [{"area": n.area, "text": n.text} for n in narr],
            "next_year": rep.next_year}


async def file_report(*, session: AsyncSession, rt: NodeRuntime, kind: str, year: int,
                      actor: str) -> Report:
    """File the report with the parent (and, for drill-down, every ancestor)."""
    code = rt.cfg.code
    rep = await get_report(session, code, kind, year)
    if rep.status == "filed":
        raise Conflict(f"report {rep.id} is already filed")
    d = await load_directory(session, code)
    if d.parent is None:
        raise Conflict("this office has no parent to file with (it is the top of the tree)")
    body = await report_body(session, rep)
    if not body["values"]:
        raise Conflict("the report has no values yet: enter them or compile first")
    if rep.filed_envelope_id is not None:
        body["refiling_of"] = rep.filed_envelope_id
    env = await emit(session, rt, type="report.filing", recipient=code,
                     scope="ancestors", body=body, directory=d)
    rep.filed_envelope_id = env["id"]
    rep.status = "filed"
    rep.updated_at = utcnow()
    await record(session=session, actor=actor, action="report.file", entity="report",
                 entity_id=rep.id, after={"envelope": env["id"],
                                          "refiling_of": body.get("refiling_of")})
    return rep


async def report_due(session: AsyncSession, code: str, kind: str, year: int) -> date:
    """Due date from this node's framework of that kind (default March 31 of year + 1)."""
    doc = await own_document(session, code, kind)
    return annual_report_due(year, doc.annual_report_due if doc else "03-31")


async def filed_due_days(session: AsyncSession, kind: str | None = None
                         ) -> dict[tuple[str, str], str]:
    """(child code, kind) → the annual report due day of the plan that child filed here (its
    newest filing of the kind)."""
    q = select(Filing).order_by(Filing.received_at)
    if kind is not None:
        q = q.where(Filing.kind == kind)
    out: dict[tuple[str, str], str] = {}
    for f in (await session.scalars(q)).all():
        day = (f.document or {}).get("annual_report_due")
        if isinstance(day, str):
            out[(f.filer, f.kind)] = day
    return out


def due_day_of(code: str, kind: str, *, self_code: str, parents: dict[str, str | None],
               filed: dict[tuple[str, str], str], own: str) -> str:
    """The annual report due day (MM-DD) a node of the subtree reports under: that of its own
    plan as filed here, else of the nearest ancestor's plan filed here, else this node's own
    (``own``) — the framework it actually follows, never simply this node's day."""
    seen: set[str] = set()
    c: str | None = code
    while c is not None and c != self_code and c not in seen:
        seen.add(c)
        if (c, kind) in filed:
            return filed[(c, kind)]
        c = parents.get(c)
    return own


def report_problems(doc: PlanDocument | None, values: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the values of a child's filed report, by this node's indicators
    (the same check as entering a value: node.plans.units.value_problem)."""
    if doc is None:
        return []
    inds = doc.by_code()
    out = []
    for v in values:
        ind = inds.get(v.get("code", ""))
        if ind is None:
            continue
        problem = value_problem(code=ind.code, unit=ind.unit, aggregation=ind.aggregation,
                                value=v.get("value"), numerator=v.get("numerator"),
                                denominator=v.get("denominator"))
        if problem is not None:
            out.append(problem)
    return out


async def on_report(ctx: Context) -> dict[str, Any] | None:
    b, s, rt, env = ctx.env["body"], ctx.session, ctx.rt, ctx.env
    me = ctx.directory.self_code
    direct = ctx.directory.parents.get(env["origin"]) == me
    received = rt.clock()
    mine = await own_document(s, me, b["kind"])
    day = due_day_of(env["origin"], b["kind"], self_code=me, parents=ctx.directory.parents,
                     filed=await filed_due_days(s, b["kind"]),
                     own=mine.annual_report_due if mine else "03-31")
    due = annual_report_due(b["year"], day)
    due = await refiling_due(s, filer=env["origin"], refiling_of=b.get("refiling_of"), due=due,
                             kind=b["kind"], year=b["year"])
    late = late_days(received, due, rt.cfg.zone)
    problems = report_problems(mine, b["values"]) if direct else []
    outcome = ("returned" if problems else "accepted") if direct else "relayed"
    row = ReceivedReport(id=env["id"], filer=env["origin"], kind=b["kind"], year=b["year"],
                         direct=direct, received_at=received, due_on=due, late_days=late,
                         outcome=outcome,
                         reasons=("数值核查未通过 values refused: " + "; ".join(problems[:10])
                                  if problems else None),
                         refiling_of=b.get("refiling_of"), values=b["values"],
                         narratives=b["narratives"], next_year=b["next_year"],
                         decided_by=("auto-check" if problems else "auto") if direct
                         else f"relay:{env['origin']}")
    s.add(row)
    await s.flush()
    if not direct:
        return None
    row.receipt_envelope_id = await answer_report(s, rt, ctx.directory, row)
    return {"outcome": outcome, "due_on": due.isoformat(), "late_days": late}


async def on_report_receipt(ctx: Context) -> None:
    """At the filer: a returned report becomes editable again (refiling keeps its link)."""
    body, session = ctx.env["body"], ctx.session
    rep = await session.scalar(select(Report).where(Report.filed_envelope_id == body["filing_id"]))
    if rep is not None and body["outcome"] == "returned":
        rep.status = "returned"
        rep.updated_at = utcnow()


async def own_series(
    session: AsyncSession, code: str, kind: str
) -> dict[str, list[tuple[int, float]]]:
    """indicator → [(year, value)] from this node's own reports."""
    doc = await _require_doc(session, code, kind)
    units = {i.code: i.unit for i in doc.indicators}
    rows = (await session.execute(
        select(Report.year, ReportValue).join(ReportValue, ReportValue.report_id == Report.id)
        .where(Report.kind == kind, Report.id.like(f"{code}-%")))).all()
    out: dict[str, list[tuple[int, float]]] = {}
    for year, v in rows:
        x = Reported(v.value, v.numerator, v.denominator).resolved(units.get(v.code, ""))
        if x is not None:
            out.setdefault(v.code, []).append((year, x))
    return out


async def subtree_series(session: AsyncSession, code: str, kind: str
                         ) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """node code → indicator → [(year, value)] from the reports received from the subtree."""
    doc = await _require_doc(session, code, kind)
    units = {i.code: i.unit for i in doc.indicators}
    rows = (await session.scalars(select(ReceivedReport).where(
        ReceivedReport.kind == kind, ReceivedReport.outcome.in_(("accepted", "relayed")))
        .order_by(ReceivedReport.received_at))).all()
    latest: dict[tuple[str, int], ReceivedReport] = {}
    for r in rows:
        latest[(r.filer, r.year)] = r
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for (filer, year), r in sorted(latest.items()):
        for v in r.values:
            x = Reported(v.get("value"), v.get("numerator"), v.get("denominator")).resolved(
                units.get(v["code"], ""))
            if x is not None:
                out.setdefault(filer, {}).setdefault(v["code"], []).append((year, x))
    return out


async def early_warnings(*, session: AsyncSession, code: str, kind: str,
                         volatility: float) -> list[dict[str, Any]]:
    """Warnings for this node's own series and for every node of its subtree that reported."""
    from node.reports.warnings import warnings_for

    doc = await _require_doc(session, code, kind)
    out: list[dict[str, Any]] = []
    scopes = {code: await own_series(session, code, kind)}
    scopes.update(await subtree_series(session, code, kind))
    for scope, series in scopes.items():
        for ind in doc.indicators:
            for w in warnings_for(ind, series.get(ind.code, []), volatility=volatility):
                out.append({"scope": scope, **w.as_dict()})
    return out
