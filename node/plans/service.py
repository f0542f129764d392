"""Plans: drafting workflow, the no-lowered-standard check, publishing (release downward, file
upward), and what a node does when frameworks, filings, receipts and ledger entries arrive.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.errors import BadRequest, Conflict, Forbidden, NotFound
from node.filings.service import answer_plan, refiling_due
from node.models import (
    Filing,
    Framework,
    KnownNode,
    Plan,
    PlanComment,
    PlanEvent,
    PlanVersion,
    SentFiling,
    User,
)
from node.plans.compliance import AncestorFramework, Finding, check, diff
from node.plans.dates import late_days, plan_filing_due
from node.plans.document import (
    KINDS,
    DocumentError,
    PlanDocument,
    kind_mismatch,
    parse_document,
)
from node.protocol.directory import load_directory
from node.protocol.outbox import emit
from node.protocol.registry import Context
from node.runtime import NodeRuntime
from sync import Directory, ErrorCode, Rejected, utcnow

MAX_ROUNDS = 3
# at least this many consultation rounds before expert review (seed 000: 3 rounds); each node
# sets its own with PLANSYNC_MIN_CONSULTATION_ROUNDS (node.config, default 1)
DEFAULT_MIN_ROUNDS = 1
EDITABLE = {"draft", "consultation", "expert_review"}
# step -> (allowed from, to)
STEPS: dict[str, tuple[set[str], str]] = {
    "consultation": ({"draft", "consultation"}, "consultation"),  # 征求意见, up to 3 rounds
    "expert_review": ({"draft", "consultation"}, "expert_review"),  # 专家论证
    "submit": ({"expert_review"}, "submitted"),  # 送审稿
    "approve": ({"submitted"}, "approved"),  # 审定
    "back_to_draft": ({"consultation", "expert_review", "submitted", "approved"}, "draft"),
}


class ComplianceFailed(Conflict):
    code = "lowered_standard"

    def __init__(self, findings: list[Finding]) -> None:
        lines = "; ".join(f"{f.indicator} {f.name}: {f.reason}" for f in findings[:10])
        super().__init__(f"降低标准或删减约束性指标 the plan lowers or drops ancestor standards "
                         f"({len(findings)} finding(s): {lines}). Fix the plan, or an admin "
                         "may publish with --override-reason")
        self.findings = findings


def plan_id_for(code: str, kind: str) -> str:
    return f"{code}-{kind}"


async def get_plan(session: AsyncSession, plan_id: str) -> Plan:
    plan = await session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id}; create it with `plansync framework import FILE "
                       "--kind KIND` (`plansync plan list` lists the plans)")
    return plan


async def _event(session: AsyncSession, plan: Plan, step: str, actor: str,
                 note: str | None = None, round_: int | None = None) -> None:
    session.add(PlanEvent(plan_id=plan.id, step=step, actor=actor, at=utcnow(), round=round_,
                          note=note))
    await record(session=session, actor=actor, action=f"plan.{step}", entity="plan",
                 entity_id=plan.id, after={"status": plan.status, "note": note,
                                           "round": round_})


def _same_kind(document: PlanDocument, kind: str) -> None:
    wrong = kind_mismatch(document, kind)
    if wrong is not None:
        raise BadRequest(f"规划类别不符 {wrong}; nothing was imported", code="wrong_plan_kind")


async def create_plan(*, session: AsyncSession, code: str, kind: str, title: str,
                      document: PlanDocument, actor: str) -> Plan:
    if kind not in KINDS:
        raise BadRequest(f"plan kind must be women or children, not {kind!r}")
    _same_kind(document, kind)
    pid = plan_id_for(code, kind)
    if await session.get(Plan, pid) is not None:
        raise Conflict(f"plan {pid} exists; edit it or start a revision (plansync plan revise)")
    plan = Plan(id=pid, kind=kind, title=title, status="draft", document=document.dump(),
                consultation_round=0, current_version=0, updated_at=utcnow())
    session.add(plan)
    await session.flush()
    await _event(session, plan, "create", actor, note=f"{len(document.indicators)} indicators")
    return plan


async def update_document(*, session: AsyncSession, plan_id: str, document: PlanDocument,
                          actor: str) -> Plan:
    plan = await get_plan(session, plan_id)
    if plan.status not in EDITABLE:
        raise Conflict(f"plan {plan_id} is {plan.status}; only drafts under consultation or "
                       "review can be edited (go back to draft first)")
    _same_kind(document, plan.kind)
    plan.document = document.dump()
    plan.updated_at = utcnow()
    await _event(session, plan, "edit", actor, note=f"{len(document.indicators)} indicators")
    return plan


async def advance(*, session: AsyncSession, plan_id: str, step: str, actor: str,
                  note: str | None = None, min_rounds: int = 0) -> Plan:
    """Take one workflow step. ``min_rounds``: consultation rounds needed before expert
    review — the endpoint and the CLI pass the node's PLANSYNC_MIN_CONSULTATION_ROUNDS
    (default 1); in-process tools that set up plans directly pass nothing."""
    plan = await get_plan(session, plan_id)
    if step not in STEPS:
        raise BadRequest(f"unknown step {step!r}; one of {', '.join(STEPS)}")
    allowed, to = STEPS[step]
    if plan.status not in allowed:
        raise Conflict(f"plan {plan_id} is {plan.status}; {step} needs one of "
                       f"{', '.join(sorted(allowed))}")
    round_ = None
    if step == "consultation":
        if plan.consultation_round >= MAX_ROUNDS:
            raise Conflict(f"already {MAX_ROUNDS} consultation rounds; move to expert_review")
        plan.consultation_round += 1
        round_ = plan.consultation_round
    if step == "expert_review" and plan.consultation_round < min_rounds:
        raise Conflict(f"征求意见轮次不足 plan {plan_id} has had {plan.consultation_round} "
                       f"consultation round(s); this office requires at least {min_rounds} "
                       "before expert review (take the consultation step)",
                       code="consultation_rounds")
    if step == "submit":
        plan.submitted_by = actor
    if step == "approve":
        if plan.submitted_by == actor:
            raise Forbidden("提交人不能审定 the user who submitted the plan may not approve it")
        plan.approved_by = actor
    if step == "back_to_draft":
        plan.submitted_by = plan.approved_by = None
    plan.status = to
    plan.updated_at = utcnow()
    await _event(session, plan, step, actor, note=note, round_=round_)
    return plan


async def add_comment(*, session: AsyncSession, plan_id: str, unit: str, text: str,
                      actor: str) -> PlanComment:
    plan = await get_plan(session, plan_id)
    if plan.status != "consultation":
        raise Conflict(f"plan {plan_id} is not under consultation (status {plan.status})")
    if not unit.strip() or not text.strip():
        raise BadRequest("a comment needs the member unit and the text")
    user = await session.scalar(select(User).where(User.name == actor))
    if user is not None and user.role == "member_unit" and unit.strip() != (user.unit or ""):
        raise Forbidden(f"成员单位只能以本单位名义提出意见 a member unit comments only in its own "
                        f"name: {actor} is {user.unit or '(no unit set)'}, not {unit.strip()}")
    c = PlanComment(plan_id=plan.id, round=plan.consultation_round, unit=unit.strip(),
                    author=actor, text=text.strip(), at=utcnow())
    session.add(c)
    await session.flush()
    await record(session=session, actor=actor, action="plan.comment", entity="plan",
                 entity_id=plan.id, after={"round": c.round, "unit": c.unit})
    return c


async def frameworks_in_force(session: AsyncSession, directory: Directory, kind: str,
                              *, include_self: bool = False) -> list[AncestorFramework]:
    """The newest received version of each ancestor's framework of this kind, top first;
    with ``include_self``, this node's own newest published plan too (what its children must
    follow)."""
    ancestors = directory.chain_up(directory.self_code)
    rows = (await session.scalars(select(Framework).where(Framework.kind == kind))).all()
    newest: dict[str, Framework] = {}
    for fw in rows:
        if fw.origin in ancestors and (fw.origin not in newest
                                       or fw.version > newest[fw.origin].version):
            newest[fw.origin] = fw
    names = {n.code: n.name for n in (await session.scalars(select(KnownNode))).all()}
    out = [AncestorFramework(code, names.get(code, code), newest[code].version,
                             parse_document(newest[code].document))
           for code in reversed(ancestors) if code in newest]
    if include_self:
        own = await session.scalar(
            select(PlanVersion).where(PlanVersion.kind == kind,
                                      PlanVersion.plan_id == plan_id_for(directory.self_code,
                                                                         kind))
            .order_by(PlanVersion.version.desc()).limit(1))
        if own is not None:
            out.append(AncestorFramework(directory.self_code, names.get(directory.self_code,
                                                                        directory.self_code),
                                         own.version, parse_document(own.document)))
    return out


async def check_plan(*, session: AsyncSession, rt: NodeRuntime, plan_id: str,
                     document: PlanDocument | None = None) -> dict[str, Any]:
    """The no-lowered-standard check of the plan's working document — or of ``document``, an
    edit not yet saved (the console checks while the user types) — against every ancestor
    framework in force. Changes nothing."""
    plan = await get_plan(session, plan_id)
    d = await load_directory(session, rt.cfg.code)
    fws = await frameworks_in_force(session, d, plan.kind)
    findings = check(document or parse_document(plan.document), fws)
    return {"plan_id": plan.id, "ok": not findings,
            "checked_against": [{"code": f.code, "name": f.name, "version": f.version}
                                for f in fws],
            "findings": [f.as_dict() for f in findings]}


async def publish(*, session: AsyncSession, rt: NodeRuntime, plan_id: str, released_on: date,
                  actor: str, is_admin: bool, override_reason: str | None = None
                  ) -> PlanVersion:
    """Publish an approved plan: immutable version; release to the subtree as a framework;
    file with the parent. Blocked by compliance findings unless an admin overrides."""
    plan = await get_plan(session, plan_id)
    if plan.status != "approved":
        raise Conflict(f"plan {plan_id} is {plan.status}; it must be approved before publishing")
    d = await load_directory(session, rt.cfg.code)
    doc = parse_document(plan.document)
    findings = check(doc, await frameworks_in_force(session, d, plan.kind))
    if findings:
        if not override_reason:
            raise ComplianceFailed(findings)
        if not is_admin:
            raise Forbidden("only an admin may publish over compliance findings")
    version = plan.current_version + 1
    pv = PlanVersion(plan_id=plan.id, version=version, kind=plan.kind, title=plan.title,
                     document=doc.dump(), released_on=released_on, published_at=utcnow(),
                     published_by=actor, findings=[f.as_dict() for f in findings],
                     override_reason=override_reason if findings else None)
    session.add(pv)
    body = {"kind": plan.kind, "version": version, "title": plan.title,
            "released_on": released_on.isoformat(), "document": doc.dump()}
    # released to the whole subtree; stored even without children, for children enrolling later
    env = await emit(session, rt, type="framework.release", recipient=rt.cfg.code,
                     scope="subtree", body={"framework_id": plan.id, **body}, directory=d)
    pv.release_envelope_id = env["id"]
    if d.parent is not None:
        # a refiling answers the newest filing of this plan, and only if the parent returned
        # it: once a refiling was accepted (or while one is unanswered), a later revision is
        # a new filing with its own due date
        last = await session.scalar(
            select(SentFiling).where(SentFiling.plan_id == plan.id)
            .order_by(SentFiling.sent_at.desc(), SentFiling.envelope_id.desc()).limit(1))
        fbody: dict[str, Any] = {"plan_id": plan.id, **body}
        if last is not None and last.outcome == "returned":
            fbody["refiling_of"] = last.envelope_id
        env = await emit(session, rt, type="plan.filing", recipient=d.parent, scope="node",
                         body=fbody, directory=d)
        pv.filing_envelope_id = env["id"]
        session.add(SentFiling(envelope_id=env["id"], plan_id=plan.id, version=version,
                               sent_at=utcnow()))
    plan.status = "published"
    plan.current_version = version
    plan.updated_at = utcnow()
    note = f"v{version} released {released_on.isoformat()}"
    if findings:
        note += f"; OVERRIDE of {len(findings)} finding(s): {override_reason}"
    await _event(session, plan, "publish", actor, note=note)
    return pv


async def revise(*, session: AsyncSession, plan_id: str, actor: str) -> Plan:
    """Start a revision of a published plan: back to draft, keeping its content."""
    plan = await get_plan(session, plan_id)
    if plan.status != "published":
        raise Conflict(f"plan {plan_id} is {plan.status}, not published")
    plan.status = "draft"
    plan.consultation_round = 0
    plan.submitted_by = plan.approved_by = None
    plan.updated_at = utcnow()
    await _event(session, plan, "revise", actor, note=f"revision of v{plan.current_version}")
    return plan


# ---- receiving ---------------------------------------------------------------------------


def _doc_or_reject(data: Any) -> PlanDocument:
    try:
        return parse_document(data)
    except DocumentError as e:
        raise Rejected(ErrorCode.schema_violation, f"plan document: {e.message}",
                       "/body/document" + e.location) from None


async def _own_working_document(session: AsyncSession, code: str, kind: str
                                ) -> PlanDocument | None:
    plan = await session.get(Plan, plan_id_for(code, kind))
    return parse_document(plan.document) if plan is not None else None


async def on_framework(ctx: Context) -> dict[str, Any] | None:
    b = ctx.env["body"]
    doc = _doc_or_reject(b["document"])
    origin, kind, version = ctx.env["origin"], b["kind"], b["version"]
    s = ctx.session
    if await s.get(Framework, (origin, kind, version)) is not None:
        raise Rejected(ErrorCode.version_conflict,
                       f"{origin} {kind} framework version {version} was already received "
                       "with other content", "/body/version")
    prev = await s.scalar(select(Framework).where(
        Framework.origin == origin, Framework.kind == kind, Framework.version < version)
        .order_by(Framework.version.desc()).limit(1))
    newer = await s.scalar(select(func.count()).select_from(Framework).where(
        Framework.origin == origin, Framework.kind == kind, Framework.version > version))
    current = not newer  # versions never go backwards: a late older one is history only
    if current:
        await s.execute(update(Framework).where(Framework.origin == origin,
                                                Framework.kind == kind).values(current=False))
    mine = await _own_working_document(s, ctx.directory.self_code, kind)
    node = await s.get(KnownNode, origin)
    name = node.name if node is not None else str(origin)
    breaks = (check(mine, [AncestorFramework(origin, name, version, doc)])
              if mine is not None and current else [])
    s.add(Framework(current=current, origin=origin, kind=kind, version=version,
                    framework_id=b["framework_id"],
                    title=b["title"], released_on=date.fromisoformat(b["released_on"]),
                    document=doc.dump(), envelope_id=ctx.env["id"], received_at=utcnow(),
                    diff=diff(parse_document(prev.document) if prev else None, doc)
                    | {"previous_version": prev.version if prev else None},
                    breaks=[f.as_dict() for f in breaks]))
    await s.flush()
    return None


async def on_filing(ctx: Context) -> dict[str, Any]:
    b = ctx.env["body"]
    doc = _doc_or_reject(b["document"])
    s, rt = ctx.session, ctx.rt
    received = rt.clock()
    released = date.fromisoformat(b["released_on"])
    if released > received.astimezone(rt.cfg.zone).date():  # the due date hangs on it
        raise Rejected(ErrorCode.schema_violation,
                       f"released_on {released} is after the day this filing was received "
                       f"({received.astimezone(rt.cfg.zone).date()}): a plan is filed after "
                       "its release", "/body/released_on")
    due = plan_filing_due(released)
    refiling_of = b.get("refiling_of")
    due = await refiling_due(s, filer=ctx.env["origin"], refiling_of=refiling_of, due=due,
                             plan_id=b["plan_id"])
    late = late_days(received, due, rt.cfg.zone)
    fws = await frameworks_in_force(s, ctx.directory, b["kind"], include_self=True)
    findings = check(doc, fws)
    outcome = "returned" if findings else "accepted"
    reasons = ("; ".join(f.detail for f in findings) if findings else None)
    filing = Filing(id=ctx.env["id"], filer=ctx.env["origin"], plan_id=b["plan_id"],
                    kind=b["kind"], version=b["version"], title=b["title"], released_on=released,
                    due_on=due, received_at=received, late_days=late, outcome=outcome,
                    findings=[f.as_dict() for f in findings], reasons=reasons,
                    refiling_of=refiling_of, document=doc.dump(), decided_by="auto-check")
    s.add(filing)
    await s.flush()
    filing.receipt_envelope_id = await answer_plan(ctx.session, rt, ctx.directory, filing)
    return {"outcome": outcome, "due_on": due.isoformat(), "late_days": late,
            "findings": len(findings)}
