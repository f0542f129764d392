"""/api/v1/oversight: the province's and the auditors' views of a subtree — overview,
timeliness audit pages (and their XLSX), indicator status buckets, an indicator's series, and
the health of the sync links. What each returns is in node.oversight.schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, get_rt, require
from node.divisions import division
from node.errors import BadRequest, Conflict, NotFound
from node.models import KnownNode, User
from node.oversight import service
from node.oversight.exports import audit_xlsx
from node.oversight.schemas import (
    FilingsPage,
    IndicatorBuckets,
    IndicatorSeries,
    OfficeRead,
    Overview,
    Retried,
    RetryIn,
    SyncHealth,
)
from node.protocol import keytrust
from node.protocol.outbox import kick_after_commit
from node.reports import service as reports
from node.reports.schemas import KIND, TimelinessStatus
from node.reports.service import FIRST_YEAR, LAST_YEAR
from node.runtime import NodeRuntime
from node.schema_types import ROLE_CHECKED, XLSX, errors

router = APIRouter(prefix="/api/v1/oversight", tags=["oversight"])
Kind = Annotated[str, Path(max_length=10, description="women | children",
                           json_schema_extra=KIND)]
PLANNED = {**ROLE_CHECKED, **errors(404, 409)}


def _today(rt: NodeRuntime) -> date:
    return datetime.now(rt.cfg.zone).date()


def _kind(kind: str) -> None:
    if kind not in ("women", "children"):
        raise BadRequest(f"kind must be women or children, not {kind!r}")


@router.get("/overview", summary="概览 The subtree at a glance", responses=ROLE_CHECKED)
async def get_overview(year: int | None = Query(default=None, ge=FIRST_YEAR, le=LAST_YEAR,
                                                description="report year (default: last "
                                                "year)"),
                       session: AsyncSession = SessionDep, rt: NodeRuntime = Depends(get_rt),
                       _: User = Depends(require(Perm.read))) -> Overview:
    """Plan filings and annual reports of the year by status (on time, late, returned,
    overdue, not yet due), reporting and on-time rates per level (never above 100%), open early
    warnings, offices not heard from for 30 days, and the subtree as a tree with each
    office's most urgent status."""
    today = _today(rt)
    y = year or max(FIRST_YEAR, min(LAST_YEAR, today.year - 1))
    warnings = 0
    for kind in ("women", "children"):
        try:
            warnings += len(await reports.early_warnings(
                session=session, code=rt.cfg.code, kind=kind,
                volatility=rt.settings.volatility_threshold))
        except Conflict:  # no plan of that kind here: no warnings of it
            pass
    return Overview.model_validate(await service.overview(
        session, self_code=rt.cfg.code, today=today, year=y, open_warnings=warnings))


@router.get("/filings", summary="督查审计 The subtree's filings, filtered and paged",
            response_model=FilingsPage,
            responses={**ROLE_CHECKED, 200: {"description": "a page as JSON, or every "
                                             "matching row as XLSX (format=xlsx)",
                                             "content": {XLSX: {"schema": {
                                                 "type": "string", "format": "binary"}}}}})
async def get_filings(
    level: Literal["national", "province", "city", "county"] | None = Query(default=None),
    kind: Literal["women", "children"] | None = Query(default=None),
    year: int | None = Query(default=None, ge=0, le=LAST_YEAR,
                             description="a report year (or an evaluation's stage); 0 = "
                             "plan filings only"),
    what: Literal["plan", "report", "evaluation"] | None = Query(
        default=None, description="plan filings, annual reports or evaluation reports "
        "(中期/终期评估报告) only"),
    status: TimelinessStatus | None = Query(
        default=None),
    city: str | None = Query(default=None, pattern=r"^\d{6}$"),
    office: str | None = Query(default=None, pattern=r"^\d{6}$",
                               description="one office's filings only"),
    sort: Literal["status", "due_on", "received_at", "late_days", "code", "name", "level",
                  "filing"] = Query(default="status"),
    order: Literal["asc", "desc"] = Query(default="asc"),
    page: int = Query(default=1, ge=1, le=1_000_000),
    size: int = Query(default=50, ge=1, le=500),
    from_year: int = Query(default=FIRST_YEAR, ge=FIRST_YEAR, le=LAST_YEAR),
    format: Literal["json", "xlsx"] = Query(default="json"),
    session: AsyncSession = SessionDep, rt: NodeRuntime = Depends(get_rt),
    _: User = Depends(require(Perm.audit_read)),
) -> Response:
    """Every expected filing of the subtree — plan filings, annual reports and mid-term /
    final evaluation reports (``what``; a row is office + ``filing``): office, level, kind,
    year, due date, received at, status, days late (an overdue one: so far), and its
    returns and refilings. Overdue
    first by default; filters and sorting run on the server and one page is returned; with
    ``format=xlsx`` every matching row, in a layout an office prints."""
    today = _today(rt)
    if year not in (None, 0) and not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadRequest(f"year must be 0 (plans) or {FIRST_YEAR}–{LAST_YEAR}")
    try:
        rows = await service.audit_rows(session, self_code=rt.cfg.code, today=today,
                                        from_year=from_year)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    q = service.AuditQuery(level=level, kind=kind, year=year, what=what, status=status,
                           city=city,
                           office=office,
                           sort=sort, desc=order == "desc", page=page,
                           size=size if format == "json" else 10**9)
    total, cut = service.select_rows(rows, q)
    nodes = {n.code: n.name for n in (await session.scalars(select(KnownNode))).all()}
    if format == "xlsx":
        body = audit_xlsx(cut, title=f"{rt.cfg.name}妇女儿童发展规划报送及时性督查表",
                          zone=rt.cfg.zone, names=nodes, generated_on=today)
        return Response(body, media_type=XLSX, headers={
            "Content-Disposition": "attachment; filename=\"timeliness.xlsx\""})
    cities = sorted({r["city"] for r in rows if r["city"]})
    years = sorted({r["year"] for r in rows if r["year"] is not None})
    page_ = FilingsPage.model_validate({
        "total": total, "page": page, "size": size, "rows": cut,
        "cities": [{"code": c, "name": nodes.get(c) or _division_name(c)} for c in cities],
        "years": years})
    return Response(page_.model_dump_json(), media_type="application/json")


@router.get("/offices", summary="下级单位名录 The offices this node knows",
            responses=ROLE_CHECKED)
async def get_offices(session: AsyncSession = SessionDep,
                      _: User = Depends(require(Perm.read))) -> list[OfficeRead]:
    """Every office known here (this one, its parent, its subtree) with level and parent:
    names for the pages, without computing anything."""
    rows = (await session.scalars(select(KnownNode).order_by(KnownNode.code))).all()
    return [OfficeRead(code=n.code, name=n.name, level=n.level, parent=n.parent_code,
                       relation=n.relation) for n in rows]


def _division_name(code: str) -> str:
    """The name of a city that never enrolled (未接入), from the division tree."""
    d = division(code)
    return d.name if d is not None else code


@router.get("/indicators/{kind}", summary="预警 Indicator status buckets and warnings",
            responses=PLANNED)
async def get_indicator_buckets(kind: Kind,
                                scope: str | None = Query(default=None, pattern=r"^\d{6}$",
                                                          description="an office of the "
                                                          "subtree (default: this one)"),
                                session: AsyncSession = SessionDep,
                                rt: NodeRuntime = Depends(get_rt),
                                _: User = Depends(require(Perm.read))) -> IndicatorBuckets:
    """Each indicator of this office's plan for one office (its series, its bucket: 提前达标
    already met, 预计可达标 on track, 达标困难 at risk, 未达标 off target, 无数据 no data, and
    its warnings: off target, projected to miss 2030, volatile), counts per bucket, and the
    counts for every office of the subtree that reported."""
    from node.reports.warnings import warnings_for

    _kind(kind)
    doc = await reports.require_doc(session, rt.cfg.code, kind)
    own = await reports.own_series(session, rt.cfg.code, kind)
    sub = await reports.subtree_series(session, rt.cfg.code, kind)
    scopes = {rt.cfg.code: own, **sub}
    who = scope or rt.cfg.code
    if who not in scopes and await session.get(KnownNode, who) is None:
        raise NotFound(f"{who} is not in this office's subtree")
    names = {n.code: n.name for n in (await session.scalars(select(KnownNode))).all()}
    vol = rt.settings.volatility_threshold

    def counts(series: dict[str, list[tuple[int, float]]]) -> dict[str, int]:
        c = dict.fromkeys(service.BUCKETS, 0)
        for ind in doc.indicators:
            c[service.bucket(ind, series.get(ind.code, []))] += 1
        return c

    series = scopes.get(who, {})
    inds = [{"code": i.code, "name": i.name, "unit": i.unit, "comparator": i.comparator,
             "target": float(i.target), "direction": i.direction,
             "bucket": service.bucket(i, series.get(i.code, [])),
             "series": sorted(series.get(i.code, [])),
             "warnings": [w.as_dict() for w in warnings_for(i, series.get(i.code, []),
                                                            volatility=vol)]}
            for i in doc.indicators]
    return IndicatorBuckets.model_validate({
        "scope": who, "kind": kind, "counts": counts(series), "indicators": inds,
        "offices": [{"code": c, "name": names.get(c, c), "counts": counts(s)}
                    for c, s in sorted(scopes.items())]})


@router.get("/series/{kind}/{code}", summary="汇总序列 An indicator's aggregate over the years",
            responses=PLANNED)
async def get_series(kind: Kind, code: str = Path(max_length=64),
                     year: int | None = Query(default=None, ge=FIRST_YEAR, le=LAST_YEAR,
                                              description="the year of the children's "
                                              "side-by-side values (default: last year)"),
                     under: str | None = Query(default=None, pattern=r"^\d{6}$"),
                     session: AsyncSession = SessionDep, rt: NodeRuntime = Depends(get_rt),
                     _: User = Depends(require(Perm.read))) -> IndicatorSeries:
    """One indicator aggregated over the children (of ``under``) for every year of the plan
    period so far, by its method, with coverage — for the chart against the target — and
    each child's value in ``year``."""
    _kind(kind)
    today = _today(rt)
    last = max(FIRST_YEAR, min(LAST_YEAR, today.year - 1))
    y = year or last
    doc = await reports.require_doc(session, rt.cfg.code, kind)
    ind = next((i for i in doc.indicators if i.code == code), None)
    if ind is None:
        raise NotFound(f"no indicator {code} in this office's {kind} plan")
    points = []
    chosen = None
    for yy in range(FIRST_YEAR, max(last, y) + 1):
        fig = next(f for f in await reports.figures(session=session, code=rt.cfg.code,
                                                    kind=kind, year=yy, under=under)
                   if f.code == code)
        points.append({"year": yy, "value": fig.value, "numerator": fig.numerator,
                       "denominator": fig.denominator, "coverage": fig.coverage})
        if yy == y:
            chosen = fig
    assert chosen is not None
    return IndicatorSeries.model_validate({
        "code": ind.code, "name": ind.name, "unit": ind.unit, "comparator": ind.comparator,
        "target": float(ind.target), "points": points, "children": chosen.children,
        "year": y})


@router.get("/sync", summary="同步状态 Health of the links to parent and children",
            responses=ROLE_CHECKED)
async def get_sync_health(session: AsyncSession = SessionDep,
                          rt: NodeRuntime = Depends(get_rt),
                          _: User = Depends(require(Perm.read))) -> SyncHealth:
    """For the parent and each child: last contact, outbox depth and the oldest undelivered
    envelope, dead letters with their error, the key held for it, and the framework versions
    delivered to each child; and the last key-transparency check of this node's own key."""
    health = await service.sync_health(session, self_code=rt.cfg.code)
    state = keytrust.parse_state(rt.extra.get(keytrust.STATE_KEY)) or {
        "status": "not checked yet", "ancestors": {}}
    return SyncHealth.model_validate({**health, "key_transparency": state})


@router.post("/sync/retry", summary="重试投递 Retry dead letters", tags=["oversight"],
             responses=ROLE_CHECKED)
async def post_retry(req: RetryIn, session: AsyncSession = SessionDep,
                     rt: NodeRuntime = Depends(get_rt),
                     user: User = Depends(require(Perm.children_manage))) -> Retried:
    """Put dead letters back in line (one by ``seq``, all of one ``target``, or all): due
    now, attempts from zero; delivery is kicked after the commit."""
    from node.audit.service import record

    rows = await service.retry_dead(session, seq=req.seq, target=req.target)
    if rows:
        await record(session=session, actor=user.name, action="outbox.retry",
                     entity="outbox", entity_id=str(rows[0].seq),
                     after={"seqs": [r.seq for r in rows]})
        kick_after_commit(session, rt, {r.target_code for r in rows})
    return Retried(retried=len(rows))
