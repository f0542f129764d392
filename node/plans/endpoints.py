"""/api/v1 plans, frameworks and filings (role-checked)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm, allows
from node.deps import SessionDep, get_rt, require
from node.errors import BadRequest, NotFound
from node.models import Filing, Framework, Plan, PlanComment, PlanEvent, PlanVersion, SentFiling
from node.plans import service
from node.plans.document import DocumentError, PlanDocument, from_framework_json, parse_document
from node.plans.sheets import read_xlsx, write_xlsx
from node.runtime import NodeRuntime
from sync import format_ts

router = APIRouter(prefix="/api/v1", tags=["plans"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class PlanCreate(BaseModel):
    kind: str
    title: str = Field(min_length=1, max_length=300)
    document: dict[str, Any] = Field(default_factory=dict)


class StepIn(BaseModel):
    note: str | None = None


class CommentIn(BaseModel):
    unit: str
    text: str


class PublishIn(BaseModel):
    released_on: date
    override_reason: str | None = None


class ReturnIn(BaseModel):
    reasons: str


def _doc(data: Any) -> PlanDocument:
    try:
        return parse_document(data or {})
    except DocumentError as e:
        raise BadRequest(f"invalid plan document at {e.location or '/'}: {e.message}") from None


async def _body_document(request: Request, kind: str) -> PlanDocument:
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith(XLSX) or raw[:2] == b"PK":
            return read_xlsx(raw)
        return from_framework_json(json.loads(raw), kind)  # type: ignore[arg-type]
    except DocumentError as e:
        raise BadRequest(f"{e}; nothing was imported") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest(f"body is neither JSON nor XLSX: {e}") from None


def _plan_out(p: Plan) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "title": p.title, "status": p.status,
            "consultation_round": p.consultation_round, "current_version": p.current_version,
            "submitted_by": p.submitted_by, "approved_by": p.approved_by,
            "indicators": len(p.document.get("indicators", [])),
            "updated_at": format_ts(p.updated_at)}


@router.post("/plans", status_code=201)
async def create_plan(req: PlanCreate, session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: Any = Depends(require(Perm.plans_edit))) -> dict[str, Any]:
    plan = await service.create_plan(session=session, code=rt.cfg.code, kind=req.kind,
                                     title=req.title, document=_doc(req.document),
                                     actor=user.name)
    return _plan_out(plan)


@router.post("/plans/import", status_code=201)
async def import_plan(request: Request, kind: str, title: str,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: Any = Depends(require(Perm.plans_edit))) -> dict[str, Any]:
    """Create (or, while editable, replace the content of) a plan from JSON or XLSX."""
    doc = await _body_document(request, kind)
    existing = await session.get(Plan, service.plan_id_for(rt.cfg.code, kind))
    if existing is not None:
        plan = await service.update_document(session=session, plan_id=existing.id,
                                             document=doc, actor=user.name)
    else:
        plan = await service.create_plan(session=session, code=rt.cfg.code, kind=kind,
                                         title=title, document=doc, actor=user.name)
    return _plan_out(plan)


@router.get("/plans")
async def list_plans(session: AsyncSession = SessionDep,
                     _: Any = Depends(require(Perm.read))) -> list[dict[str, Any]]:
    return [_plan_out(p) for p in (await session.scalars(select(Plan).order_by(Plan.id))).all()]


@router.get("/plans/{plan_id}")
async def get_plan(plan_id: str, session: AsyncSession = SessionDep,
                   _: Any = Depends(require(Perm.read))) -> dict[str, Any]:
    p = await service.get_plan(session, plan_id)
    events = (await session.scalars(select(PlanEvent).where(PlanEvent.plan_id == plan_id)
                                    .order_by(PlanEvent.id))).all()
    comments = (await session.scalars(select(PlanComment).where(PlanComment.plan_id == plan_id)
                                      .order_by(PlanComment.id))).all()
    versions = (await session.scalars(select(PlanVersion).where(PlanVersion.plan_id == plan_id)
                                      .order_by(PlanVersion.version))).all()
    return {**_plan_out(p), "document": p.document,
            "history": [{"step": e.step, "actor": e.actor, "at": format_ts(e.at),
                         "round": e.round, "note": e.note} for e in events],
            "comments": [{"round": c.round, "unit": c.unit, "author": c.author, "text": c.text,
                          "at": format_ts(c.at)} for c in comments],
            "versions": [{"version": v.version, "released_on": v.released_on.isoformat(),
                          "published_by": v.published_by, "override_reason": v.override_reason}
                         for v in versions]}


@router.put("/plans/{plan_id}/document")
async def put_document(plan_id: str, document: dict[str, Any],
                       session: AsyncSession = SessionDep,
                       user: Any = Depends(require(Perm.plans_edit))) -> dict[str, Any]:
    plan = await service.update_document(session=session, plan_id=plan_id,
                                         document=_doc(document), actor=user.name)
    return _plan_out(plan)


@router.post("/plans/{plan_id}/steps/{step}")
async def post_step(plan_id: str, step: str, req: StepIn | None = None,
                    session: AsyncSession = SessionDep,
                    user: Any = Depends(require(Perm.read))) -> dict[str, Any]:
    from node.errors import Forbidden

    need = Perm.plans_approve if step == "approve" else Perm.plans_edit
    if not allows(user.role, need):
        raise Forbidden(f"role {user.role} may not do this (needs {need.value})")
    plan = await service.advance(session=session, plan_id=plan_id, step=step, actor=user.name,
                                 note=req.note if req else None)
    return _plan_out(plan)


@router.post("/plans/{plan_id}/comments", status_code=201)
async def post_comment(plan_id: str, req: CommentIn, session: AsyncSession = SessionDep,
                       user: Any = Depends(require(Perm.plans_comment))) -> dict[str, Any]:
    c = await service.add_comment(session=session, plan_id=plan_id, unit=req.unit,
                                  text=req.text, actor=user.name)
    return {"round": c.round, "unit": c.unit}


@router.get("/plans/{plan_id}/check")
async def get_check(plan_id: str, session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    _: Any = Depends(require(Perm.read))) -> dict[str, Any]:
    return await service.check_plan(session=session, rt=rt, plan_id=plan_id)


@router.post("/plans/{plan_id}/publish")
async def post_publish(plan_id: str, req: PublishIn, request: Request,
                       session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       user: Any = Depends(require(Perm.plans_approve))) -> dict[str, Any]:
    pv, targets = await service.publish(session=session, rt=rt, plan_id=plan_id,
                                        released_on=req.released_on, actor=user.name,
                                        is_admin=user.role == "admin",
                                        override_reason=req.override_reason)
    request.state.kick = targets
    return {"plan_id": plan_id, "version": pv.version, "released_on": pv.released_on.isoformat(),
            "filed": pv.filing_envelope_id is not None, "overridden": bool(pv.override_reason)}


@router.post("/plans/{plan_id}/revise")
async def post_revise(plan_id: str, session: AsyncSession = SessionDep,
                      user: Any = Depends(require(Perm.plans_edit))) -> dict[str, Any]:
    return _plan_out(await service.revise(session=session, plan_id=plan_id, actor=user.name))


@router.get("/plans/{plan_id}/export")
async def export_plan(plan_id: str, format: str = "json", version: int | None = None,
                      session: AsyncSession = SessionDep,
                      _: Any = Depends(require(Perm.read))) -> Response:
    p = await service.get_plan(session, plan_id)
    title, document = p.title, p.document
    if version is not None:
        pv = await session.get(PlanVersion, (plan_id, version))
        if pv is None:
            raise NotFound(f"plan {plan_id} has no version {version}")
        title, document = pv.title, pv.document
    doc = parse_document(document)
    if format == "xlsx":
        return Response(write_xlsx(doc, title), media_type=XLSX, headers={
            "Content-Disposition": f'attachment; filename="{plan_id}.xlsx"'})
    if format != "json":
        raise BadRequest("format must be json or xlsx")
    return Response(json.dumps({"title": title, **doc.dump()}, ensure_ascii=False, indent=1),
                    media_type="application/json")


@router.get("/frameworks")
async def list_frameworks(session: AsyncSession = SessionDep,
                          _: Any = Depends(require(Perm.read))) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Framework).order_by(
        Framework.origin, Framework.kind, Framework.version))).all()
    return [{"origin": f.origin, "kind": f.kind, "version": f.version, "title": f.title,
             "released_on": f.released_on.isoformat(), "received_at": format_ts(f.received_at),
             "diff": f.diff, "breaks": f.breaks, "document": f.document} for f in rows]


@router.get("/filings")
async def list_filings(session: AsyncSession = SessionDep,
                       _: Any = Depends(require(Perm.read))) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Filing).order_by(Filing.received_at))).all()
    return [filing_out(f) for f in rows]


def filing_out(f: Filing) -> dict[str, Any]:
    return {"id": f.id, "filer": f.filer, "plan_id": f.plan_id, "version": f.version,
            "released_on": f.released_on.isoformat(), "due_on": f.due_on.isoformat(),
            "received_at": format_ts(f.received_at), "late_days": f.late_days,
            "outcome": f.outcome, "findings": f.findings, "reasons": f.reasons,
            "refiling_of": f.refiling_of, "decided_by": f.decided_by}


@router.post("/filings/{filing_id}/return")
async def post_return(filing_id: str, req: ReturnIn, request: Request,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: Any = Depends(require(Perm.filings_review))) -> dict[str, Any]:
    request.state.kick = await service.return_filing(session=session, rt=rt,
                                                     filing_id=filing_id,
                                                     reasons=req.reasons, actor=user.name)
    return {"id": filing_id, "outcome": "returned"}


@router.get("/filings/sent")
async def list_sent(session: AsyncSession = SessionDep,
                    _: Any = Depends(require(Perm.read))) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(SentFiling).order_by(SentFiling.sent_at))).all()
    return [{"id": s.envelope_id, "plan_id": s.plan_id, "version": s.version,
             "sent_at": format_ts(s.sent_at), "outcome": s.outcome, "receipt": s.receipt}
            for s in rows]
