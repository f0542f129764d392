"""/api/v1/evaluations: the office's mid-term (2025) and final (2030) evaluation, member
units' self-evaluations, filing upward, and the parent's view of its children's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, get_rt, require
from node.evaluations import service
from node.evaluations.schemas import (
    AggregateRead,
    EvaluationAudit,
    EvaluationFiled,
    EvaluationRead,
    ItemRead,
    OverrideIn,
    ReceivedEvaluationRead,
    Saved,
    SelfIn,
    SelfSaved,
    SummaryIn,
)
from node.filings.schemas import Returned, ReturnIn
from node.models import User
from node.plans.document import KINDS
from node.reports.document import DOCX
from node.runtime import NodeRuntime
from node.schema_types import ROLE_CHECKED, errors

router = APIRouter(prefix="/api/v1", tags=["evaluations"])
PLANNED = {**ROLE_CHECKED, **errors(404, 409)}  # needs this office's plan of the kind
Kind = Annotated[str, Path(max_length=10, description="women | children",
                           json_schema_extra={"enum": list(KINDS)})]
Stage = Annotated[int, Path(ge=2025, le=2030, description="2025 中期评估 mid-term | "
                            "2030 终期评估 final", json_schema_extra={"enum": [2025, 2030]})]


@router.get("/evaluations/received", summary="收到的评估 Evaluations received from the subtree",
            responses={**ROLE_CHECKED, **errors(400)})
async def evaluation_get_received(kind: str | None = Query(default=None, max_length=10),
                       year: int | None = Query(default=None, ge=2025, le=2030,
                                                description="the stage: 2025 | 2030"),
                       session: AsyncSession = SessionDep,
                       _: User = Depends(require(Perm.read))) -> list[ReceivedEvaluationRead]:
    """Evaluation reports filed by direct children (due date, lateness, outcome) and relayed
    from further down, oldest first."""
    if kind is not None or year is not None:
        service.check_kind_stage(kind or "women", year or 2025)
    rows = await service.received(session=session, kind=kind, stage=year)
    return [ReceivedEvaluationRead.model_validate(r) for r in rows]


@router.get("/evaluations/audit", summary="评估报送督查 Timeliness of the evaluations",
            responses={**ROLE_CHECKED, **errors(404)}, tags=["audit"])
async def evaluation_get_audit(subtree: str | None = Query(default=None, max_length=6,
                                                           description="a node of the subtree "
                                                           "(default: this office's whole "
                                                           "subtree)"),
                               session: AsyncSession = SessionDep,
                               rt: NodeRuntime = Depends(get_rt),
                               _: User = Depends(require(Perm.audit_read))) -> EvaluationAudit:
    """Every mid-term (and, from 2030, final) evaluation report expected of the subtree: due
    date, received at, status (on time, late, returned, overdue, not enrolled, pending) and
    days late — the timeliness audit's rows of the evaluations."""
    from datetime import datetime

    from node.errors import NotFound

    try:
        rep = await service.audit(session=session, self_code=rt.cfg.code,
                                  today=datetime.now(rt.cfg.zone).date(), subtree=subtree)
    except KeyError:
        raise NotFound(f"{subtree} is not in this office's subtree") from None
    return EvaluationAudit.model_validate(rep)


@router.post("/evaluations/received/{filing_id}/return",
             summary="退回评估 Return an evaluation",
             responses={**ROLE_CHECKED, **errors(404, 409)})
async def evaluation_post_return(filing_id: Annotated[str, Path(max_length=36)], req: ReturnIn,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: User = Depends(require(Perm.filings_review))) -> Returned:
    """Send an evaluation filed directly here back to the child office, with reasons; a
    refiling keeps the original due date."""
    await service.return_evaluation(session=session, rt=rt, filing_id=filing_id,
                                    reasons=req.reasons, actor=user.name)
    return Returned(id=filing_id, outcome="returned")


@router.get("/evaluations/{kind}/{stage}/children",
            summary="下级评估汇总 The children's evaluations, counted", responses=PLANNED)
async def evaluation_get_aggregate(kind: Kind, stage: Stage,
                        under: str | None = Query(default=None, max_length=6,
                                                  description="a node of the subtree whose "
                                                  "children to count (default: this office)"),
                        session: AsyncSession = SessionDep,
                        rt: NodeRuntime = Depends(get_rt),
                        _: User = Depends(require(Perm.read))) -> AggregateRead:
    """Per indicator: how many children put it in each category; who has not filed."""
    return AggregateRead.model_validate(await service.aggregate(
        session=session, code=rt.cfg.code, kind=kind, stage=stage, under=under))


@router.get("/evaluations/{kind}/{stage}", summary="评估表 This office's evaluation",
            responses=PLANNED)
async def evaluation_get_evaluation(kind: Kind, stage: Stage, session: AsyncSession = SessionDep,
                         rt: NodeRuntime = Depends(get_rt),
                         _: User = Depends(require(Perm.read))) -> EvaluationRead:
    """Every indicator with its latest value, the category proposed from the data, the
    office's category and reason, the member units' self-evaluations; who has submitted."""
    return EvaluationRead.model_validate(await service.view(
        session=session, code=rt.cfg.code, kind=kind, stage=stage))


@router.put("/evaluations/{kind}/{stage}/items/{code}",
            summary="调整评估类别 Set an indicator's category", responses=PLANNED)
async def evaluation_put_override(kind: Kind, stage: Stage,
                                  code: Annotated[str, Path(max_length=64)], req: OverrideIn,
                                  session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       user: User = Depends(require(Perm.plans_edit))) -> ItemRead:
    """The office's own category for the indicator, with a required reason; a null
    category goes back to the proposed one."""
    return ItemRead.model_validate(await service.override(
        session=session, code=rt.cfg.code, kind=kind, stage=stage, indicator=code,
        category=req.category, reason=req.reason, actor=user.name))


@router.put("/evaluations/{kind}/{stage}/self", summary="成员单位自评 Submit a self-evaluation",
            responses=PLANNED)
async def evaluation_put_self(kind: Kind, stage: Stage, req: SelfIn,
                              session: AsyncSession = SessionDep,
                   rt: NodeRuntime = Depends(get_rt),
                   user: User = Depends(require(Perm.reports_enter))) -> SelfSaved:
    """A member unit evaluates the indicators it leads or is responsible for (a member-unit
    user only for its own unit: 403 otherwise)."""
    n = await service.self_evaluate(session=session, code=rt.cfg.code, kind=kind,
                                    stage=stage, user=user, unit=req.unit,
                                    items=[i.model_dump() for i in req.items])
    return SelfSaved(saved=n)


@router.put("/evaluations/{kind}/{stage}/summary", summary="评估报告正文 Enter the summary",
            responses=PLANNED)
async def evaluation_put_summary(kind: Kind, stage: Stage, req: SummaryIn,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: User = Depends(require(Perm.plans_edit))) -> Saved:
    """The text of the evaluation report (findings, problems, proposals)."""
    await service.set_summary(session=session, code=rt.cfg.code, kind=kind, stage=stage,
                              text=req.text, actor=user.name)
    return Saved(status="ok")


@router.post("/evaluations/{kind}/{stage}/file", summary="报送评估 File the evaluation",
             responses=PLANNED)
async def evaluation_post_file(kind: Kind, stage: Stage, session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    user: User = Depends(require(Perm.plans_approve))) -> EvaluationFiled:
    """File the evaluation report with the parent (and every ancestor)."""
    ev = await service.file_evaluation(session=session, rt=rt, kind=kind, stage=stage,
                                       actor=user.name)
    return EvaluationFiled(id=ev.id, status=ev.status,
                           envelope_id=ev.filed_envelope_id)


@router.get("/evaluations/{kind}/{stage}/document",
            summary="评估报告 The evaluation report as a Word document",
            response_class=Response, responses={200: {
                "description": "the evaluation report (.docx)",
                "content": {DOCX: {"schema": {"type": "string", "format": "binary"}}}},
                **PLANNED})
async def evaluation_get_document(kind: Kind, stage: Stage, session: AsyncSession = SessionDep,
                                  rt: NodeRuntime = Depends(get_rt),
                                  _: User = Depends(require(Perm.read))) -> Response:
    """This office's mid-term or final evaluation report as a .docx ready to print: the
    conclusion, each indicator's proposed and chosen category with the reason, the
    categories counted (chart), the member units' self-evaluations and, at a city or
    province, its children's evaluations counted (409 without a plan)."""
    from datetime import datetime

    from node.evaluations.document import evaluation_report
    from node.reports.exports import attachment

    name, data = await evaluation_report(session=session, code=rt.cfg.code, name=rt.cfg.name,
                                         kind=kind, stage=stage,
                                         now=datetime.now(rt.cfg.zone))
    return Response(data, media_type=DOCX, headers={
        "Content-Disposition": attachment(name, f"evaluation-{rt.cfg.code}-{kind}-{stage}.docx")})
