"""Mid-term (2025) and final (2030) evaluations (中期评估, 终期评估; seed 004 四、监测评估).

Each office evaluates every indicator of its plan of a kind at a stage into a category. The
category is *proposed* from the office's own yearly values (its annual reports, up to the
stage year) and the office may *override* it with a required reason:

- mid-term (2025): the latest value already meets the 2030 target → 提前达标 ``ahead``; the
  trend of the values (node.oversight.service.bucket: least squares over two or more years,
  node.reports.warnings.trend) meets it by 2030 → 预计可达标 ``on_track``; otherwise →
  达标困难 ``at_risk``; no value → 无数据 ``no_data``. 未达标 ``missed`` is not proposed at
  the mid-term but may be chosen (with a reason).
- final (2030): the latest value up to 2030 meets the target → 已达标 ``met``; else 未达标
  ``missed``; no value → 无数据 ``no_data``.

Member units submit self-evaluations (自评) of the indicators they lead or are responsible for;
the office sees who has submitted. The evaluation report is filed upward like an annual report
(``evaluation.filing`` to every ancestor; the direct parent answers through the filings domain,
node.filings.service.answer: signed receipt, ledger entry at every ancestor; it may return it
with reasons; a refiling of the returned filing keeps its due date). Due: the framework's
``evaluation_due`` (MM-DD of the year after the stage; default 06-30,
node.audit.timeliness.evaluation_due).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.audit.timeliness import (
    STAGES,
    evaluation_days_in_force,
    evaluation_due,
    kinds_in_force,
    timeliness,
)
from node.errors import BadRequest, Conflict, Forbidden, NotFound
from node.filings.service import answer
from node.models import (
    Evaluation,
    EvaluationOverride,
    EvaluationSelf,
    Filing,
    KnownNode,
    ReceivedEvaluation,
    User,
)
from node.oversight.service import bucket
from node.plans.dates import late_days
from node.plans.document import KINDS, Indicator, PlanDocument
from node.protocol.directory import load_directory
from node.protocol.outbox import emit
from node.protocol.registry import Context
from node.reports.service import children_of, own_document, own_series, require_doc
from node.reports.warnings import meets
from node.runtime import NodeRuntime
from sync import Directory, format_ts, utcnow

CATEGORIES = ("ahead", "on_track", "at_risk", "met", "missed", "no_data")
LABELS = {"ahead": "提前达标", "on_track": "预计可达标", "at_risk": "达标困难", "met": "已达标",
          "missed": "未达标", "no_data": "无数据"}
STAGE_CATEGORIES = {2025: ("ahead", "on_track", "at_risk", "missed", "no_data"),
                    2030: ("met", "missed", "no_data")}
STAGE_NAMES = {2025: "中期评估 mid-term", 2030: "终期评估 final"}
TEXT_MAX = 100_000
REASON_MAX = 2000


def evaluation_id(code: str, kind: str, stage: int) -> str:
    return f"{code}-{kind}-{stage}"


def check_kind_stage(kind: str, stage: int) -> None:
    if kind not in KINDS:
        raise BadRequest(f"规划类别无效 kind must be women or children, not {kind!r}")
    if stage not in STAGES:
        raise BadRequest(f"评估阶段无效 stage must be 2025 (中期 mid-term) or 2030 (终期 final), "
                         f"not {stage}")


def check_category(stage: int, category: str) -> None:
    allowed = STAGE_CATEGORIES[stage]
    if category not in allowed:
        names = "、".join(f"{c} {LABELS[c]}" for c in allowed)
        raise BadRequest(f"评估类别无效 category {category!r} is not one of the {stage} "
                         f"stage's: {names}", code="invalid_category")


def propose(ind: Indicator, series: list[tuple[int, float]], stage: int) -> str:
    """The category proposed from the data (see the module's rules)."""
    pts = sorted(p for p in series if p[0] <= stage)
    if not pts:
        return "no_data"
    if stage == 2030:
        return "met" if meets(ind, pts[-1][1]) else "missed"
    b = bucket(ind, pts)  # the oversight page's status buckets, one rule for both
    return {"already_met": "ahead", "on_track": "on_track", "no_data": "no_data"}.get(
        b, "at_risk")


async def get_evaluation(session: AsyncSession, code: str, kind: str, stage: int,
                         *, create: bool = False) -> Evaluation:
    check_kind_stage(kind, stage)
    eid = evaluation_id(code, kind, stage)
    ev = await session.get(Evaluation, eid)
    if ev is None:
        if not create:
            raise NotFound(f"尚无评估 no {kind} evaluation for {stage} yet")
        ev = Evaluation(id=eid, kind=kind, stage=stage, status="draft", summary="",
                        updated_at=utcnow())
        session.add(ev)
        await session.flush()
    return ev


def _editable(ev: Evaluation) -> None:
    if ev.status == "filed":
        raise Conflict(f"评估 {ev.id} 已报送 is filed; it can change only if the parent "
                       "returns it")


def _units_of(ind: Indicator) -> list[str]:
    return [u for u in [ind.lead_unit, *ind.responsible_units] if u]


async def evaluation_due_on(session: AsyncSession, code: str, kind: str, stage: int) -> str:
    doc = await own_document(session, code, kind)
    return evaluation_due(stage, doc.evaluation_due if doc else None).isoformat()


async def view(*, session: AsyncSession, code: str, kind: str, stage: int) -> dict[str, Any]:
    """The office's evaluation table: every indicator with its value, the proposed and the
    chosen category (and why), and the member units' self-evaluations; who has submitted."""
    check_kind_stage(kind, stage)
    doc = await require_doc(session, code, kind)
    ev = await session.get(Evaluation, evaluation_id(code, kind, stage))
    eid = evaluation_id(code, kind, stage)
    series = await own_series(session, code, kind)
    overrides = {o.code: o for o in (await session.scalars(select(EvaluationOverride).where(
        EvaluationOverride.evaluation_id == eid))).all()}
    selfs: dict[str, list[dict[str, Any]]] = {}
    submitted: dict[str, set[str]] = {}
    for r in (await session.scalars(select(EvaluationSelf).where(
            EvaluationSelf.evaluation_id == eid).order_by(EvaluationSelf.unit))).all():
        selfs.setdefault(r.code, []).append({
            "unit": r.unit, "category": r.category, "text": r.text,
            "submitted_by": r.submitted_by, "submitted_at": format_ts(r.submitted_at)})
        submitted.setdefault(r.unit, set()).add(r.code)
    items = []
    owed: dict[str, set[str]] = {}
    for ind in doc.indicators:
        pts = sorted(p for p in series.get(ind.code, []) if p[0] <= stage)
        proposed = propose(ind, pts, stage)
        o = overrides.get(ind.code)
        for u in _units_of(ind):
            owed.setdefault(u, set()).add(ind.code)
        items.append({
            "code": ind.code, "name": ind.name, "area": ind.area, "unit": ind.unit,
            "comparator": ind.comparator, "target": float(ind.target),
            "value": pts[-1][1] if pts else None, "year": pts[-1][0] if pts else None,
            "years": len(pts), "proposed": proposed,
            "category": o.category if o else proposed, "overridden": o is not None,
            "reason": o.reason if o else None, "decided_by": o.decided_by if o else None,
            "units": _units_of(ind), "self": selfs.get(ind.code, [])})
    units = [{"unit": u, "indicators": len(codes), "submitted": len(codes & submitted.get(u,
                                                                                       set())),
              "done": codes <= submitted.get(u, set())}
             for u, codes in sorted(owed.items())]
    return {"id": eid, "kind": kind, "stage": stage,
            "status": ev.status if ev else "draft", "summary": ev.summary if ev else "",
            "due_on": await evaluation_due_on(session, code, kind, stage),
            "filed_envelope_id": ev.filed_envelope_id if ev else None,
            "categories": list(STAGE_CATEGORIES[stage]), "items": items, "units": units,
            "counts": _counts(i["category"] for i in items)}


def _counts(cats: Any) -> dict[str, int]:
    out = dict.fromkeys(CATEGORIES, 0)
    for c in cats:
        out[c] = out.get(c, 0) + 1
    return out


async def override(*, session: AsyncSession, code: str, kind: str, stage: int,
                   indicator: str, category: str | None, reason: str | None,
                   actor: str) -> dict[str, Any]:
    """The office sets its own category for an indicator (a reason is required), or clears
    it (``category`` None: back to the proposed one)."""
    check_kind_stage(kind, stage)
    doc = await require_doc(session, code, kind)
    if indicator not in doc.by_code():
        raise BadRequest(f"指标 {indicator} 不在本级{kind}规划中 is not in this office's plan")
    ev = await get_evaluation(session, code, kind, stage, create=True)
    _editable(ev)
    row = await session.get(EvaluationOverride, (ev.id, indicator))
    before = {"category": row.category, "reason": row.reason} if row else None
    if category is None:
        if row is not None:
            await session.delete(row)
    else:
        check_category(stage, category)
        why = (reason or "").strip()
        if not why:
            raise BadRequest("调整评估类别须说明理由 say why the category differs from the "
                             "proposed one (reason)", code="reason_required")
        if len(why) > REASON_MAX:
            raise BadRequest(f"理由过长 reason is longer than {REASON_MAX} characters")
        if row is None:
            row = EvaluationOverride(evaluation_id=ev.id, code=indicator)
            session.add(row)
        row.category, row.reason = category, why
        row.decided_by, row.decided_at = actor, utcnow()
    ev.updated_at = utcnow()
    await session.flush()
    await record(session=session, actor=actor, action="evaluation.override",
                 entity="evaluation", entity_id=f"{ev.id}/{indicator}", before=before,
                 after={"category": category, "reason": reason} if category else None)
    return next(i for i in (await view(session=session, code=code, kind=kind,
                                       stage=stage))["items"] if i["code"] == indicator)


async def self_evaluate(*, session: AsyncSession, code: str, kind: str, stage: int,
                        user: User, unit: str | None, items: list[dict[str, Any]]
                        ) -> int:
    """A member unit's self-evaluation (自评) of indicators it leads or is responsible for.
    A member-unit user speaks only for its own unit; the office (admin, editor) may enter
    one on behalf of a named unit. All or nothing: one bad item changes nothing."""
    check_kind_stage(kind, stage)
    if user.role == "member_unit":
        if not user.unit:
            raise Forbidden("该用户未设置成员单位 this member-unit user has no unit set")
        if unit is not None and unit != user.unit:
            raise Forbidden(f"成员单位 {user.unit} 只能提交本单位的自评 may submit only its own "
                            f"unit's self-evaluation, not {unit}'s")
        unit = user.unit
    elif user.role not in ("admin", "editor"):
        raise Forbidden(f"role {user.role} may not submit self-evaluations")
    if not unit:
        raise BadRequest("请指明成员单位 name the member unit (unit)")
    if not items:
        raise BadRequest("自评为空 no items: evaluate at least one indicator")
    doc = await require_doc(session, code, kind)
    inds = doc.by_code()
    seen: set[str] = set()
    for it in items:
        ind = inds.get(it["code"])
        if ind is None:
            raise BadRequest(f"指标 {it['code']} 不在本级{kind}规划中 is not in this office's plan")
        if it["code"] in seen:
            raise BadRequest(f"指标 {it['code']} 重复 appears twice")
        seen.add(it["code"])
        if unit not in _units_of(ind):
            raise Forbidden(f"成员单位 {unit} 不是指标 {ind.code} 的牵头或责任单位 is neither the "
                            f"lead nor a responsible unit of it (those are: "
                            f"{'、'.join(_units_of(ind)) or '-'})")
        check_category(stage, it["category"])
    ev = await get_evaluation(session, code, kind, stage, create=True)
    _editable(ev)
    now = utcnow()
    for it in items:
        row = await session.get(EvaluationSelf, (ev.id, unit, it["code"]))
        if row is None:
            row = EvaluationSelf(evaluation_id=ev.id, unit=unit, code=it["code"])
            session.add(row)
        row.category, row.text = it["category"], it.get("text") or ""
        row.submitted_by, row.submitted_at = user.name, now
    ev.updated_at = now
    await session.flush()
    await record(session=session, actor=user.name, action="evaluation.self",
                 entity="evaluation", entity_id=f"{ev.id}/{unit}",
                 after={"indicators": sorted(seen)})
    return len(items)


async def set_summary(*, session: AsyncSession, code: str, kind: str, stage: int, text: str,
                      actor: str) -> None:
    if len(text) > TEXT_MAX:
        raise BadRequest(f"评估报告正文过长 summary is longer than {TEXT_MAX} characters")
    ev = await get_evaluation(session, code, kind, stage, create=True)
    _editable(ev)
    ev.summary, ev.updated_at = text, utcnow()
    await record(session=session, actor=actor, action="evaluation.summary",
                 entity="evaluation", entity_id=ev.id, after={"chars": len(text)})


async def file_evaluation(*, session: AsyncSession, rt: NodeRuntime, kind: str, stage: int,
                          actor: str) -> Evaluation:
    """File the evaluation report with the parent (and every ancestor, for their views)."""
    code = rt.cfg.code
    table = await view(session=session, code=code, kind=kind, stage=stage)
    ev = await get_evaluation(session, code, kind, stage, create=True)
    if ev.status == "filed":
        raise Conflict(f"评估 {ev.id} 已报送 is already filed")
    d = await load_directory(session, code)
    if d.parent is None:
        raise Conflict("本级无上级 this office has no parent to file with (top of the tree)")
    if not table["items"]:
        raise Conflict("规划无指标 the plan has no indicators to evaluate")
    items = []
    for i in table["items"]:
        it: dict[str, Any] = {"code": i["code"], "category": i["category"],
                              "value": i["value"], "year": i["year"]}
        if i["overridden"]:
            it["proposed"], it["reason"] = i["proposed"], i["reason"]
        items.append(it)
    body: dict[str, Any] = {"evaluation_id": ev.id, "kind": kind, "stage": stage,
                            "items": items, "summary": ev.summary}
    if ev.filed_envelope_id is not None:
        body["refiling_of"] = ev.filed_envelope_id
    env = await emit(session, rt, type="evaluation.filing", recipient=code, scope="ancestors",
                     body=body, directory=d)
    ev.filed_envelope_id, ev.status, ev.updated_at = env["id"], "filed", utcnow()
    await record(session=session, actor=actor, action="evaluation.file", entity="evaluation",
                 entity_id=ev.id, after={"envelope": env["id"],
                                         "refiling_of": body.get("refiling_of")})
    return ev


# ---- at the parent and the ancestors ------------------------------------------------------


async def refiling_due(session: AsyncSession, *, filer: str, refiling_of: str | None,
                       kind: str, stage: int, due: Any) -> Any:
    """The refiling clock, as node.filings.service.refiling_due for reports: a refiling keeps
    the due date of the filing it answers only if that is the filer's own evaluation of the
    same kind and stage, was returned, and no accepted refiling answered it yet."""
    if not refiling_of:
        return due
    prev = await session.get(ReceivedEvaluation, refiling_of)
    ok = (prev is not None and prev.filer == filer and prev.kind == kind
          and prev.stage == stage and prev.outcome == "returned")
    answered = await session.scalar(select(func.count()).select_from(ReceivedEvaluation)
                                    .where(ReceivedEvaluation.refiling_of == refiling_of,
                                           ReceivedEvaluation.outcome == "accepted"))
    return prev.due_on if ok and not answered and prev is not None else due


async def _due_day_for(session: AsyncSession, filer: str, kind: str, me: str,
                       parents: dict[str, str | None]) -> str | None:
    """The evaluation due day of the framework ``filer`` reports under: its own plan as filed
    here (or its nearest ancestor's), else this node's own."""
    filed: dict[str, Any] = {}
    for f in (await session.scalars(select(Filing).where(Filing.kind == kind)
                                    .order_by(Filing.received_at))).all():
        filed[f.filer] = (f.document or {}).get("evaluation_due")
    c: str | None = filer
    seen: set[str] = set()
    while c is not None and c != me and c not in seen:
        seen.add(c)
        if c in filed:
            day = filed[c]
            return day if isinstance(day, str) else None
        c = parents.get(c)
    mine = await own_document(session, me, kind)
    return mine.evaluation_due if mine else None


def _problems(doc: PlanDocument | None, stage: int, items: list[dict[str, Any]]) -> list[str]:
    """What is wrong with a child's evaluation: a category of another stage, an override
    without a reason, an indicator twice."""
    out: list[str] = []
    seen: set[str] = set()
    for it in items:
        if it["code"] in seen:
            out.append(f"{it['code']}: 重复 twice")
        seen.add(it["code"])
        if it["category"] not in STAGE_CATEGORIES[stage]:
            out.append(f"{it['code']}: {it['category']} 不是{stage}年评估的类别 "
                       "is not a category of this stage")
        if "proposed" in it and it["proposed"] != it["category"] and \
                not (it.get("reason") or "").strip():
            out.append(f"{it['code']}: 调整类别未说明理由 changed without a reason")
    return out


async def on_evaluation(ctx: Context) -> dict[str, Any] | None:
    """``evaluation.filing`` at an ancestor: the direct parent records it with its due date
    and lateness and answers (receipt + ledger entry, node.filings); the others keep it."""
    b, s, rt, env = ctx.env["body"], ctx.session, ctx.rt, ctx.env
    me = ctx.directory.self_code
    direct = ctx.directory.parents.get(env["origin"]) == me
    received = rt.clock()
    day = await _due_day_for(s, env["origin"], b["kind"], me, ctx.directory.parents)
    due = evaluation_due(b["stage"], day)
    due = await refiling_due(s, filer=env["origin"], refiling_of=b.get("refiling_of"),
                             kind=b["kind"], stage=b["stage"], due=due)
    late = late_days(received, due, rt.cfg.zone)
    problems = _problems(await own_document(s, me, b["kind"]), b["stage"], b["items"]) \
        if direct else []
    outcome = ("returned" if problems else "accepted") if direct else "relayed"
    row = ReceivedEvaluation(
        id=env["id"], filer=env["origin"], kind=b["kind"], stage=b["stage"], direct=direct,
        received_at=received, due_on=due, late_days=late, outcome=outcome,
        reasons=("评估核查未通过 evaluation refused: " + "; ".join(problems[:10])
                 if problems else None),
        refiling_of=b.get("refiling_of"), items=b["items"], summary=b["summary"],
        decided_by=("auto-check" if problems else "auto") if direct
        else f"relay:{env['origin']}")
    s.add(row)
    await s.flush()
    if not direct:
        return None
    row.receipt_envelope_id = await _answer(s, rt, ctx.directory, row)
    return {"outcome": outcome, "due_on": due.isoformat(), "late_days": late}


async def _answer(session: AsyncSession, rt: NodeRuntime, d: Directory,
                  r: ReceivedEvaluation) -> str:
    return await answer(
        session, rt, d, filing_id=r.id, filer=r.filer, filing_type="evaluation.filing",
        kind=r.kind, year=r.stage, subject=f"evaluation {r.kind} {r.stage}",
        received_at=r.received_at, due_on=r.due_on, outcome=r.outcome,
        late_days=r.late_days, findings=[], reasons=r.reasons, decided_by=r.decided_by)


async def on_evaluation_receipt(ctx: Context) -> None:
    """At the filer: a returned evaluation becomes editable again (refiling keeps its link)."""
    body = ctx.env["body"]
    ev = await ctx.session.scalar(select(Evaluation).where(
        Evaluation.filed_envelope_id == body["filing_id"]))
    if ev is not None and body["outcome"] == "returned":
        ev.status, ev.updated_at = "returned", utcnow()


async def return_evaluation(*, session: AsyncSession, rt: NodeRuntime, filing_id: str,
                            reasons: str, actor: str) -> ReceivedEvaluation:
    """A reviewer sends an evaluation filed directly here back, with reasons (the filer
    gets a signed 'returned' receipt; its ancestors a ledger entry)."""
    if not reasons.strip():
        raise BadRequest("请说明退回理由 say why the evaluation is returned (reasons)")
    row = await session.get(ReceivedEvaluation, filing_id)
    if row is None or not row.direct:
        raise NotFound(f"no evaluation {filing_id} filed directly with this office")
    if row.outcome == "returned":
        raise Conflict(f"评估 {filing_id} 已退回 was already returned")
    newer = await session.scalar(select(func.count()).select_from(ReceivedEvaluation).where(
        ReceivedEvaluation.refiling_of == filing_id))
    if newer:
        raise Conflict(f"evaluation {filing_id} was already superseded by a refiling")
    d = await load_directory(session, rt.cfg.code)
    row.outcome, row.reasons, row.decided_by = "returned", reasons.strip(), actor
    row.receipt_envelope_id = await _answer(session, rt, d, row)
    return row


async def audit(*, session: AsyncSession, self_code: str, today: date,
                subtree: str | None = None) -> dict[str, Any]:
    """The timeliness audit of the subtree's evaluation reports: the rows of
    node.audit.timeliness for ``evaluation.<kind>.<stage>`` (each stage whose year has come),
    with the same statuses as annual reports, and their counts per status. KeyError if
    ``subtree`` is not known here."""
    kinds = await kinds_in_force(session, self_code) or None
    days = await evaluation_days_in_force(session, self_code)
    rows: list[dict[str, Any]] = []
    for stage in (s for s in STAGES if s <= today.year):
        rep = await timeliness(session=session, self_code=self_code, subtree=subtree,
                               today=today, year=stage, kinds=kinds, evaluations=days)
        rows += [r for r in rep["rows"] if r["filing"].startswith("evaluation.")]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"root": subtree or self_code, "generated_on": today.isoformat(), "rows": rows,
            "counts": counts}


def received_view(r: ReceivedEvaluation) -> dict[str, Any]:
    return {"id": r.id, "filer": r.filer, "kind": r.kind, "stage": r.stage, "direct": r.direct,
            "due_on": r.due_on.isoformat(), "received_at": format_ts(r.received_at),
            "late_days": r.late_days, "outcome": r.outcome, "reasons": r.reasons,
            "refiling_of": r.refiling_of, "summary": r.summary, "items": r.items,
            "counts": _counts(i["category"] for i in r.items)}


async def received(*, session: AsyncSession, kind: str | None = None,
                   stage: int | None = None) -> list[dict[str, Any]]:
    """Evaluations filed by the children (and relayed from further down), oldest first."""
    q = select(ReceivedEvaluation).order_by(ReceivedEvaluation.received_at)
    if kind is not None:
        q = q.where(ReceivedEvaluation.kind == kind)
    if stage is not None:
        q = q.where(ReceivedEvaluation.stage == stage)
    return [received_view(r) for r in (await session.scalars(q)).all()]


async def aggregate(*, session: AsyncSession, code: str, kind: str, stage: int,
                    under: str | None = None) -> dict[str, Any]:
    """Per indicator of this office's plan: how many children of ``under`` (default: this
    office) put it in each category, from each child's newest accepted (or relayed)
    evaluation; the children that have not filed are named (the real tree's children)."""
    check_kind_stage(kind, stage)
    doc = await require_doc(session, code, kind)
    parent = under or code
    if parent != code and await session.get(KnownNode, parent) is None:
        raise NotFound(f"node {parent} is not in this office's subtree")
    kids = await children_of(session, parent)
    newest: dict[str, ReceivedEvaluation] = {}
    for r in (await session.scalars(select(ReceivedEvaluation).where(
            ReceivedEvaluation.filer.in_(kids), ReceivedEvaluation.kind == kind,
            ReceivedEvaluation.stage == stage,
            ReceivedEvaluation.outcome.in_(("accepted", "relayed")))
            .order_by(ReceivedEvaluation.received_at))).all():
        newest[r.filer] = r  # later rows (refilings) replace earlier ones
    per = {f: {i["code"]: i["category"] for i in r.items} for f, r in newest.items()}
    rows = []
    for ind in doc.indicators:
        cats = {f: v[ind.code] for f, v in per.items() if ind.code in v}
        rows.append({"code": ind.code, "name": ind.name, "area": ind.area,
                     "counts": _counts(cats.values()), "children": cats})
    return {"kind": kind, "stage": stage, "under": parent, "children": kids,
            "filed": sorted(newest), "missing": sorted(set(kids) - set(newest)),
            "indicators": rows}
