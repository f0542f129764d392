"""/api/v1 annual reports, aggregates, early warnings and the timeliness audit. What each
endpoint takes and returns is in node.reports.schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, get_rt, require
from node.errors import BadRequest, NotFound
from node.filings import service as filings
from node.filings.schemas import Returned, ReturnIn
from node.models import ReceivedReport, User
from node.reports import exports, service
from node.reports.document import DOCX
from node.reports.schemas import (
    KIND,
    Compiled,
    FigureRead,
    Format,
    NarrativeSaved,
    ReceivedReportRead,
    ReportFiled,
    ReportRead,
    Saved,
    TextIn,
    Timeliness,
    ValueIn,
    ValueRead,
    WarningRead,
)
from node.reports.service import FIRST_YEAR, LAST_YEAR
from node.runtime import NodeRuntime
from node.schema_types import ROLE_CHECKED, XLSX, errors

router = APIRouter(prefix="/api/v1", tags=["reports"])
REPORT = {**ROLE_CHECKED, **errors(404)}  # a report that may not exist yet
REPORT_CHANGE = {**REPORT, **errors(409)}  # ... changed (it may be filed already)
PLANNED = REPORT_CHANGE  # needs this office's plan of the kind (409 without one)
# years of the 2021–2030 plan period: reports, aggregates and the timeliness audit
Year = Annotated[int, Path(ge=FIRST_YEAR, le=LAST_YEAR,
                           description=f"a year of the plan period {FIRST_YEAR}–{LAST_YEAR}")]
Kind = Annotated[str, Path(max_length=10, description="women | children",
                           json_schema_extra=KIND)]
FormatQuery = Annotated[Format, Query(description="json, or a file: csv (the first table) "
                                     "or xlsx (every table)")]


def files(what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of an export: JSON (the response model), CSV or XLSX."""
    return {200: {"description": f"{what} as JSON, CSV or XLSX (by format)", "content": {
        "text/csv": {"schema": {"type": "string"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


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


@router.put("/reports/{kind}/{year}/values/{code}", summary="填报指标值 Enter an indicator's value",
            responses=REPORT_CHANGE)
async def put_value(kind: Kind, year: Year, code: Annotated[str, Path(max_length=64)],
                    req: ValueIn,
                    session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    user: User = Depends(require(Perm.reports_enter))) -> ValueRead:
    """A member unit (the indicator's lead or responsible unit) or the office enters an
    indicator's value for the year, or its numerator and denominator."""
    row = await service.enter_value(session=session, code=rt.cfg.code, kind=kind, year=year,
                                    indicator=code, user=user, value=req.value,
                                    numerator=req.numerator, denominator=req.denominator)
    return ValueRead(code=row.code, value=row.value, numerator=row.numerator,
                     denominator=row.denominator)


@router.put("/reports/{kind}/{year}/narratives/{area}",
            summary="填报领域进展 Enter an area's narrative", responses=REPORT_CHANGE)
async def put_narrative(kind: Kind, year: Year,
                        area: Annotated[str, Path(max_length=100, description="an area of the "
                                                  "plan, e.g. 妇女与健康")],
                        req: TextIn,
                        session: AsyncSession = SessionDep,
                        rt: NodeRuntime = Depends(get_rt),
                        user: User = Depends(require(Perm.reports_enter))) -> NarrativeSaved:
    """The year's progress in one area of the plan, as text."""
    await service.enter_narrative(session=session, code=rt.cfg.code, kind=kind, year=year,
                                  area=area, text=req.text, user=user)
    return NarrativeSaved(area=area)


@router.put("/reports/{kind}/{year}/next-year",
            summary="下一年工作安排 Enter next year's work plan", responses=REPORT_CHANGE)
async def put_next_year(kind: Kind, year: Year, req: TextIn,
                        session: AsyncSession = SessionDep,
                        rt: NodeRuntime = Depends(get_rt),
                        user: User = Depends(require(Perm.plans_edit))) -> Saved:
    """Next year's work plan (下一年工作安排) of the report."""
    await service.set_next_year(session=session, code=rt.cfg.code, kind=kind, year=year,
                                text=req.text, actor=user.name)
    return Saved(status="ok")


@router.post("/reports/{kind}/{year}/compile", summary="汇总 Compile the report",
             responses=REPORT_CHANGE)
async def post_compile(kind: Kind, year: Year, session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       user: User = Depends(require(Perm.plans_edit))) -> Compiled:
    """Fill every indicator nobody entered with the aggregate of the children's reports."""
    rep, n = await service.compile_report(session=session, code=rt.cfg.code, kind=kind,
                                          year=year, actor=user.name)
    return Compiled(id=rep.id, status=rep.status, aggregated=n)


@router.post("/reports/{kind}/{year}/file", summary="报送 File the report with the parent",
             responses=REPORT_CHANGE)
async def post_file(kind: Kind, year: Year,
                    session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    user: User = Depends(require(Perm.plans_approve))) -> ReportFiled:
    """File the report with the parent (and, for drill-down, every ancestor)."""
    rep = await service.file_report(session=session, rt=rt, kind=kind, year=year,
                                    actor=user.name)
    return ReportFiled(id=rep.id, status=rep.status,
                       envelope_id=rep.filed_envelope_id)


@router.get("/reports/{kind}/{year}", summary="年度报告 This office's annual report",
            responses=REPORT)
async def get_report(kind: Kind, year: Year, session: AsyncSession = SessionDep,
                     rt: NodeRuntime = Depends(get_rt),
                     _: User = Depends(require(Perm.read))) -> ReportRead:
    """The report's values, narratives and next year's work plan, and its status."""
    rep = await service.get_report(session, rt.cfg.code, kind, year)
    return ReportRead.model_validate({"status": rep.status,
                                      **await service.report_body(session, rep)})


@router.get("/reports/{kind}/{year}/document",
            summary="监测报告 The annual monitoring report as a Word document",
            response_class=Response, responses={200: {
                "description": "the monitoring report (.docx)",
                "content": {DOCX: {"schema": {"type": "string", "format": "binary"}}}},
                **REPORT_CHANGE})
async def get_report_document(kind: Kind, year: Year, session: AsyncSession = SessionDep,
                              rt: NodeRuntime = Depends(get_rt),
                              _: User = Depends(require(Perm.read))) -> Response:
    """This office's annual monitoring report of the year as a .docx ready to print: the
    indicator table, the status buckets, the warnings with their reasons, charts, and at a
    city or province the aggregate of its children (404 without a report of the year, 409
    without a plan)."""
    from node.reports.document import monitoring_report

    name, data = await monitoring_report(
        session=session, code=rt.cfg.code, name=rt.cfg.name, kind=kind, year=year,
        volatility=rt.settings.volatility_threshold, now=datetime.now(rt.cfg.zone))
    return Response(data, media_type=DOCX, headers={
        "Content-Disposition": exports.attachment(
            name, f"monitoring-report-{rt.cfg.code}-{kind}-{year}.docx")})


@router.get("/reports/received", summary="收到的报告 Reports received from the subtree",
            responses=ROLE_CHECKED)
async def get_received(session: AsyncSession = SessionDep,
                       _: User = Depends(require(Perm.read))) -> list[ReceivedReportRead]:
    """Annual reports filed by direct children (with due date, lateness and outcome) and
    relayed from further down (kept for drill-down)."""
    rows = (await session.scalars(select(ReceivedReport).order_by(
        ReceivedReport.received_at))).all()
    return [ReceivedReportRead.of(r) for r in rows]


@router.post("/reports/received/{filing_id}/return", summary="退回报告 Return a report",
             responses={**ROLE_CHECKED, **errors(404, 409)})
async def post_report_return(filing_id: str, req: ReturnIn,
                             session: AsyncSession = SessionDep,
                             rt: NodeRuntime = Depends(get_rt),
                             user: User = Depends(require(Perm.filings_review))) -> Returned:
    """Send a report filed directly here back to the child office, with reasons."""
    await filings.return_filing(session=session, rt=rt, filing_id=filing_id,
                                reasons=req.reasons, actor=user.name)
    return Returned(id=filing_id, outcome="returned")


@router.get("/aggregates/{kind}/{year}", summary="汇总数据 Aggregates over the children",
            response_model=list[FigureRead], responses={**files("the figures"), **PLANNED})
async def get_aggregates(kind: Kind, year: Year,
                         under: str | None = Query(default=None, max_length=6,
                                                   description="drill down: a node of the "
                                                   "subtree whose children to aggregate"),
                         format: FormatQuery = "json",
                         session: AsyncSession = SessionDep,
                         rt: NodeRuntime = Depends(get_rt),
                         _: User = Depends(require(Perm.read))) -> Response:
    """Each indicator of this office's plan aggregated over its children's reports of the
    year (by the indicator's method), with coverage and each child's value."""
    figs = [f.as_dict() for f in await service.figures(session=session, code=rt.cfg.code,
                                                       kind=kind, year=year, under=under)]
    return render(format, f"aggregates-{kind}-{year}", figs,
                  [("汇总", figs, exports.FIGURE_COLUMNS)])


@router.get("/warnings/{kind}", summary="预警 Early warnings",
            response_model=list[WarningRead], responses={**files("the warnings"), **PLANNED})
async def get_warnings(kind: Kind, format: FormatQuery = "json",
                       session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       _: User = Depends(require(Perm.read))) -> Response:
    """Indicators off target, projected to miss 2030, or volatile — for this office's own
    series and every node of its subtree that reported."""
    ws = await service.early_warnings(session=session, code=rt.cfg.code, kind=kind,
                                      volatility=rt.settings.volatility_threshold)
    return render(format, f"warnings-{kind}", ws, [("预警", ws, exports.WARNING_COLUMNS)])


@router.get("/audit/timeliness", summary="报送及时性督查 Timeliness audit",
            response_model=Timeliness, responses={**files("the audit"), **REPORT},
            tags=["audit"])
async def get_timeliness(subtree: str | None = Query(default=None, max_length=6,
                                                     description="a node of the subtree "
                                                     "(default: this office's whole subtree)"),
                         year: int | None = Query(default=None, ge=FIRST_YEAR, le=LAST_YEAR,
                                                  description="only this report year"),
                         from_year: int = Query(default=FIRST_YEAR, ge=FIRST_YEAR,
                                                le=LAST_YEAR),
                         what: Literal["plan", "report", "evaluation"] | None = Query(
                             default=None, description="plan filings, annual reports or "
                             "evaluation reports (中期/终期评估报告) only"),
                         format: FormatQuery = "json",
                         session: AsyncSession = SessionDep,
                         rt: NodeRuntime = Depends(get_rt),
                         _: User = Depends(require(Perm.audit_read))) -> Response:
    """Every expected filing of the subtree (plans, annual reports and mid-term / final
    evaluation reports: ``evaluation.<kind>.<stage>``), its due date, when and by whom it was
    received, and its status; on-time and reporting rates by node and by level (over the
    filings listed: each counted once)."""
    from node.audit.timeliness import (
        evaluation_days_in_force,
        expected_years,
        kinds_in_force,
        timeliness,
    )

    try:
        today = datetime.now(rt.cfg.zone).date()
        rep = await timeliness(session=session, self_code=rt.cfg.code, subtree=subtree,
                               year=year, today=today,
                               report_years=expected_years(today, from_year),
                               kinds=await kinds_in_force(session, rt.cfg.code) or None,
                               evaluations=await evaluation_days_in_force(session,
                                                                          rt.cfg.code),
                               what=what)
    except KeyError:
        raise NotFound(f"{subtree} is not in this office's subtree") from None
    except ValueError as e:
        raise BadRequest(str(e)) from None
    return render(format, "timeliness", rep,
                  [("报送明细", rep["rows"], exports.AUDIT_COLUMNS),
                   ("按单位", rep["by_node"], exports.RATE_COLUMNS),
                   ("按层级", rep["by_level"], exports.RATE_COLUMNS)])
