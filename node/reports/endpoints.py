"""/api/v1 annual reports, aggregates, early warnings and the timeliness audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, get_rt, require
from node.errors import BadRequest, NotFound
from node.models import ReceivedReport, User
from node.reports import exports, service
from node.runtime import NodeRuntime
from sync import format_ts

router = APIRouter(prefix="/api/v1", tags=["reports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ValueIn(BaseModel):
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None


class TextIn(BaseModel):
    text: str


class ReturnIn(BaseModel):
    reasons: str


def render(fmt: str, name: str, payload: Any, sheets: list[tuple[str, Any, Any]]) -> Response:
    if fmt == "json":
        import json

        return Response(json.dumps(payload, ensure_ascii=False, default=str),
                        media_type="application/json")
    if fmt == "csv":
        _, rows, cols = sheets[0]
        return Response(exports.to_csv(rows, cols), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(exports.to_xlsx(sheets), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    raise BadRequest("format must be json, csv or xlsx")


@router.put("/reports/{kind}/{year}/values/{code}")
async def put_value(kind: str, year: int, code: str, req: ValueIn,
                    session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    user: User = Depends(require(Perm.reports_enter))) -> dict[str, Any]:
    row = await service.enter_value(session=session, code=rt.cfg.code, kind=kind, year=year,
                                    indicator=code, user=user, value=req.value,
                                    numerator=req.numerator, denominator=req.denominator)
    return {"code": row.code, "value": row.value, "numerator": row.numerator,
            "denominator": row.denominator}


@router.put("/reports/{kind}/{year}/narratives/{area}")
async def put_narrative(kind: str, year: int, area: str, req: TextIn,
                        session: AsyncSession = SessionDep,
                        rt: NodeRuntime = Depends(get_rt),
                        user: User = Depends(require(Perm.reports_enter))) -> dict[str, str]:
    await service.enter_narrative(session=session, code=rt.cfg.code, kind=kind, year=year,
                                  area=area, text=req.text, user=user)
    return {"area": area}


@router.put("/reports/{kind}/{year}/next-year")
async def put_next_year(kind: str, year: int, req: TextIn,
                        session: AsyncSession = SessionDep,
                        rt: NodeRuntime = Depends(get_rt),
                        user: User = Depends(require(Perm.plans_edit))) -> dict[str, str]:
    await service.set_next_year(session=session, code=rt.cfg.code, kind=kind, year=year,
                                text=req.text, actor=user.name)
    return {"status": "ok"}


@router.post("/reports/{kind}/{year}/compile")
async def post_compile(kind: str, year: int, session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       user: User = Depends(require(Perm.plans_edit))) -> dict[str, Any]:
    rep, n = await service.compile_report(session=session, code=rt.cfg.code, kind=kind,
                                          year=year, actor=user.name)
    return {"id": rep.id, "status": rep.status, "aggregated": n}


@router.post("/reports/{kind}/{year}/file")
async def post_file(kind: str, year: int, request: Request,
                    session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    user: User = Depends(require(Perm.plans_approve))) -> dict[str, Any]:
    rep, targets = await service.file_report(session=session, rt=rt, kind=kind, year=year,
                                             actor=user.name)
    request.state.kick = targets
    return {"id": rep.id, "status": rep.status, "envelope_id": rep.filed_envelope_id}


@router.get("/reports/{kind}/{year}")
async def get_report(kind: str, year: int, session: AsyncSession = SessionDep,
                     rt: NodeRuntime = Depends(get_rt),
                     _: User = Depends(require(Perm.read))) -> dict[str, Any]:
    rep = await service.get_report(session, rt.cfg.code, kind, year)
    return {"status": rep.status, **await service.report_body(session, rep)}


@router.get("/reports/received")
async def get_received(session: AsyncSession = SessionDep,
                       _: User = Depends(require(Perm.read))) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(ReceivedReport).order_by(
        ReceivedReport.received_at))).all()
    return [{"id": r.id, "filer": r.filer, "kind": r.kind, "year": r.year, "direct": r.direct,
             "due_on": r.due_on.isoformat(), "received_at": format_ts(r.received_at),
             "late_days": r.late_days, "outcome": r.outcome, "reasons": r.reasons}
            for r in rows]


@router.post("/reports/received/{filing_id}/return")
async def post_return(filing_id: str, req: ReturnIn, request: Request,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: User = Depends(require(Perm.filings_review))) -> dict[str, str]:
    request.state.kick = await service.return_report(session=session, rt=rt,
                                                     filing_id=filing_id,
                                                     reasons=req.reasons, actor=user.name)
    return {"id": filing_id, "outcome": "returned"}


@router.get("/aggregates/{kind}/{year}")
async def get_aggregates(kind: str, year: int, under: str | None = None, format: str = "json",
                         session: AsyncSession = SessionDep,
                         rt: NodeRuntime = Depends(get_rt),
                         _: User = Depends(require(Perm.read))) -> Response:
    figs = [f.as_dict() for f in await service.figures(session=session, code=rt.cfg.code,
                                                       kind=kind, year=year, under=under)]
    return render(format, f"aggregates-{kind}-{year}", figs,
                  [("汇总", figs, exports.FIGURE_COLUMNS)])


@router.get("/warnings/{kind}")
async def get_warnings(kind: str, format: str = "json",
                       session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       _: User = Depends(require(Perm.read))) -> Response:
    ws = await service.early_warnings(session=session, code=rt.cfg.code, kind=kind,
                                      volatility=rt.settings.volatility_threshold)
    return render(format, f"warnings-{kind}", ws, [("预警", ws, exports.WARNING_COLUMNS)])


@router.get("/audit/timeliness")
async def get_timeliness(subtree: str | None = None, year: int | None = None,
                         from_year: int = 2021, format: str = "json",
                         session: AsyncSession = SessionDep,
                         rt: NodeRuntime = Depends(get_rt),
                         _: User = Depends(require(Perm.audit_read))) -> Response:
    from node.audit.timeliness import kinds_in_force, timeliness

    try:
        today = datetime.now(rt.cfg.zone).date()
        rep = await timeliness(session=session, self_code=rt.cfg.code, subtree=subtree,
                               year=year, today=today,
                               report_years=range(from_year, today.year),
                               kinds=await kinds_in_force(session, rt.cfg.code) or None)
    except KeyError:
        raise NotFound(f"{subtree} is not in this office's subtree") from None
    return render(format, "timeliness", rep,
                  [("报送明细", rep["rows"], exports.AUDIT_COLUMNS),
                   ("按单位", rep["by_node"], exports.RATE_COLUMNS),
                   ("按层级", rep["by_level"], exports.RATE_COLUMNS)])
