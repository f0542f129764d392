"""/api/v1 plans, frameworks and filings (role-checked). What each endpoint takes and returns
is in node.plans.schemas and node.filings.schemas."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from node.auth.service import Perm, allows
from node.deps import MULTIPART, SessionDep, get_rt, read_form, require
from node.errors import BadRequest, Conflict, Forbidden, NotFound
from node.filings import service as filings
from node.filings.schemas import FilingRead, Returned, ReturnIn, SentFilingRead
from node.models import Framework, Plan, PlanComment, PlanEvent, PlanVersion, SentFiling
from node.plans import service, tasks
from node.plans.document import (
    DocumentError,
    PlanDocument,
    from_framework_json,
    kind_mismatch,
    parse_document,
)
from node.plans.schemas import (
    STEP,
    VERSION_MAX,
    CommentCreated,
    CommentIn,
    CommentRead,
    DocumentJson,
    FrameworkRead,
    PlanCheck,
    PlanCreate,
    PlanDetail,
    PlanEventRead,
    PlanExport,
    PlanImport,
    PlanImportUpload,
    PlanRead,
    PlanVersionRead,
    Published,
    PublishIn,
    StepIn,
    UnitRead,
    UnitTable,
)
from node.plans.sheets import read_xlsx, storable, write_xlsx
from node.reports.service import enterable
from node.runtime import NodeRuntime
from node.schema_types import REF, ROLE_CHECKED, XLSX, errors

router = APIRouter(prefix="/api/v1", tags=["plans"])
PLAN = {**ROLE_CHECKED, **errors(404)}  # a role-checked call on a plan that may not exist


@router.get("/units", summary="计量单位 The unit table", responses=ROLE_CHECKED)
async def get_units(_: Any = Depends(require(Perm.read))) -> UnitTable:
    """Every unit an indicator may have, how a ratio is scaled into it and which values it
    holds, and the other spellings accepted at import: the console shows rates with this
    table instead of a copy of its own (node.plans.units is the one place)."""
    from node.plans import units

    return UnitTable(units=[UnitRead(name=u.name, scale=u.scale, low=u.low,
                                     high=None if u.high == float("inf") else u.high)
                            for u in units.UNITS.values()],
                     aliases=dict(units.ALIASES))
PLAN_CHANGE = {**PLAN, **errors(409)}  # ... that changes it (the workflow may not allow it)


def _doc(data: Any) -> PlanDocument:
    try:
        return storable(parse_document(data or {}))
    except DocumentError as e:
        raise BadRequest(f"invalid plan document at {e.location or '/'}: {e.message}") from None


def _framework_layout(data: Any) -> None:
    """What from_framework_json reads must have the right types (a PlanDocument, or the
    framework-sample.json layout), or it cannot say what is wrong."""
    if not isinstance(data, dict):
        raise DocumentError(f"a plan file must hold a JSON object, not {type(data).__name__}")
    if isinstance(data.get("areas"), list):
        return
    if not isinstance(data.get("areas", {}), dict):
        raise DocumentError("areas must be a list of areas, or map each plan kind to a list "
                            "of area names", "/areas")
    rows = data.get("indicators", [])
    if not isinstance(rows, list):
        raise DocumentError("indicators must be a list", "/indicators")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DocumentError("each indicator must be an object", f"/indicators/{i}")


def _imported(data: Any, kind: str) -> PlanDocument:
    """A plan document, or the plan kind's part of a framework file."""
    try:
        _framework_layout(data)
        return storable(from_framework_json(data, kind))  # type: ignore[arg-type]
    except DocumentError as e:
        raise BadRequest(f"{e}; nothing was imported") from None


def _file_document(raw: bytes, kind: str) -> PlanDocument:
    """An uploaded file: an XLSX task table, or JSON."""
    if raw[:2] == b"PK":
        try:
            return storable(read_xlsx(raw))
        except DocumentError as e:
            raise BadRequest(f"{e}; nothing was imported") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise BadRequest(f"the file is neither XLSX nor JSON: {e}") from None
    return _imported(data, kind)


def _invalid(e: ValidationError, where: str) -> BadRequest:
    """A model checked by hand, reported like FastAPI's own checks (node.app)."""
    parts = [f"{where}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
             for err in e.errors()[:5]]
    return BadRequest("请求参数无效 invalid request: " + "; ".join(parts), code="invalid_request")


async def _import_request(request: Request) -> tuple[str, str, PlanDocument, bool]:
    """kind, title, document and ``replace`` of an import, from whichever form the request
    has."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith(MULTIPART):
        form = await read_form(request)
        upload = form.get("file")
        fields = {k: form.get(k) for k in ("kind", "title", "replace")
                  if isinstance(form.get(k), str)}
        try:
            got = PlanImportUpload.model_validate({**fields, "file": b""})
        except ValidationError as e:
            raise _invalid(e, "form") from None
        if not isinstance(upload, UploadFile):
            raise BadRequest("请附上文件 attach the XLSX task table (or a JSON file) as the form "
                             "field 'file'", code="invalid_request")
        return (got.kind, got.title, _checked_kind(_file_document(await upload.read(),
                                                                  got.kind), got.kind),
                got.replace)
    raw = await request.body()
    if ctype.startswith(XLSX) or raw[:2] == b"PK":
        raise BadRequest("XLSX 文件请以 multipart/form-data 上传 upload an XLSX task table as "
                         "multipart/form-data (fields kind, title and file)")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise BadRequest(f"body is not JSON: {e}") from None
    try:
        req = PlanImport.model_validate(data)
    except ValidationError as e:
        raise _invalid(e, "body") from None
    return req.kind, req.title, _checked_kind(_imported(req.document, req.kind), req.kind), \
        req.replace


def _checked_kind(doc: PlanDocument, kind: str) -> PlanDocument:
    """A women's task table is not imported as the children's plan (nor the reverse)."""
    wrong = kind_mismatch(doc, kind)
    if wrong is not None:
        raise BadRequest(f"规划类别不符 {wrong}; nothing was imported", code="wrong_plan_kind")
    return doc


IMPORT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": REF + PlanImport.__name__}},
    MULTIPART: {"schema": {"$ref": REF + PlanImportUpload.__name__},
                "encoding": {"file": {"contentType": f"{XLSX}, application/json"}}}}}}


@router.post("/plans", status_code=201, summary="新建规划 Create a plan",
             responses={**ROLE_CHECKED, **errors(409)})
async def create_plan(req: PlanCreate, session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: Any = Depends(require(Perm.plans_edit))) -> PlanRead:
    """Create this office's plan of a kind (one per kind), as a draft."""
    plan = await service.create_plan(session=session, code=rt.cfg.code, kind=req.kind,
                                     title=req.title, document=_doc(req.document),
                                     actor=user.name)
    return PlanRead.of(plan)


@router.post("/plans/import", status_code=201, openapi_extra=IMPORT_BODY,
             summary="导入规划 Import a plan (JSON, or an XLSX task table)",
             responses={**ROLE_CHECKED, **errors(409)})
async def import_plan(request: Request,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: Any = Depends(require(Perm.plans_edit))) -> PlanRead:
    """Create a plan from JSON — a plan document, or a framework file laid out like
    framework-sample.json — or from a file uploaded as multipart/form-data: an XLSX task
    table (任务分解表) or a JSON file. A plan of that kind that exists already is replaced
    (while editable) only with ``replace`` true; otherwise 409. A document of the other plan
    kind, an unknown unit or an indicator of an unknown plan kind is refused (400)."""
    if request.query_params:
        raise BadRequest("请把 kind、title 和 document 放在 JSON 请求体中 put kind, title and "
                         "document in the JSON body (or upload a file as multipart/form-data)",
                         code="invalid_request")
    kind, title, doc, replace = await _import_request(request)
    existing = await session.get(Plan, service.plan_id_for(rt.cfg.code, kind))
    if existing is not None and not replace:
        raise Conflict(f"已有规划 plan {existing.id} exists ({existing.status}); importing "
                       "would replace its working document: send replace=true to do so",
                       code="plan_exists")
    if existing is not None:
        plan = await service.update_document(session=session, plan_id=existing.id,
                                             document=doc, actor=user.name)
    else:
        plan = await service.create_plan(session=session, code=rt.cfg.code, kind=kind,
                                         title=title, document=doc, actor=user.name)
    return PlanRead.of(plan)


@router.get("/plans", summary="规划列表 This office's plans", responses=ROLE_CHECKED)
async def list_plans(session: AsyncSession = SessionDep,
                     _: Any = Depends(require(Perm.read))) -> list[PlanRead]:
    """This office's plans (at most one per kind) and where each is in its workflow."""
    return [PlanRead.of(p) for p in (await session.scalars(select(Plan).order_by(Plan.id))).all()]


@router.get("/plans/{plan_id}", summary="规划详情 A plan with its history", responses=PLAN)
async def get_plan(plan_id: str, session: AsyncSession = SessionDep,
                   _: Any = Depends(require(Perm.read))) -> PlanDetail:
    """A plan's working document, who did each workflow step, the consultation comments and
    every published version."""
    p = await service.get_plan(session, plan_id)
    events = (await session.scalars(select(PlanEvent).where(PlanEvent.plan_id == plan_id)
                                    .order_by(PlanEvent.id))).all()
    comments = (await session.scalars(select(PlanComment).where(PlanComment.plan_id == plan_id)
                                      .order_by(PlanComment.id))).all()
    versions = (await session.scalars(select(PlanVersion).where(PlanVersion.plan_id == plan_id)
                                      .order_by(PlanVersion.version))).all()
    return PlanDetail(**PlanRead.of(p).model_dump(), document=p.document,
                      history=[PlanEventRead.of(e) for e in events],
                      comments=[CommentRead.of(c) for c in comments],
                      versions=[PlanVersionRead.of(v) for v in versions])


@router.put("/plans/{plan_id}/document", summary="修改规划内容 Replace a plan's document",
            responses=PLAN_CHANGE)
async def put_document(plan_id: str, document: DocumentJson,
                       session: AsyncSession = SessionDep,
                       user: Any = Depends(require(Perm.plans_edit))) -> PlanRead:
    """Replace the working document of a plan that is still editable (draft, consultation,
    expert review)."""
    plan = await service.update_document(session=session, plan_id=plan_id,
                                         document=_doc(document), actor=user.name)
    return PlanRead.of(plan)


@router.post("/plans/{plan_id}/steps/{step}", summary="推进流程 Take a workflow step",
             responses=PLAN_CHANGE)
async def post_step(plan_id: str,
                    step: str = Path(max_length=30, json_schema_extra=STEP,
                                     description="consultation (征求意见), expert_review "
                                     "(专家论证), submit (送审), approve (审定) or "
                                     "back_to_draft"),
                    req: StepIn | None = None,
                    session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    user: Any = Depends(require(Perm.read))) -> PlanRead:
    """Move a plan along its drafting workflow. Approving needs plans.approve (and is not
    for the user who submitted it); the other steps need plans.edit. Expert review needs
    the office's minimum number of consultation rounds (PLANSYNC_MIN_CONSULTATION_ROUNDS)."""
    need = Perm.plans_approve if step == "approve" else Perm.plans_edit
    if not allows(user.role, need):
        raise Forbidden(f"role {user.role} may not do this (needs {need.value})")
    plan = await service.advance(session=session, plan_id=plan_id, step=step, actor=user.name,
                                 note=req.note if req else None,
                                 min_rounds=rt.settings.min_consultation_rounds)
    return PlanRead.of(plan)


@router.post("/plans/{plan_id}/comments", status_code=201,
             summary="征求意见 Comment in a consultation round", responses=PLAN_CHANGE)
async def post_comment(plan_id: str, req: CommentIn, session: AsyncSession = SessionDep,
                       user: Any = Depends(require(Perm.plans_comment))) -> CommentCreated:
    """A member unit's comment on a plan under consultation (in its current round)."""
    c = await service.add_comment(session=session, plan_id=plan_id, unit=req.unit,
                                  text=req.text, actor=user.name)
    return CommentCreated(round=c.round, unit=c.unit)


@router.get("/plans/{plan_id}/check", summary="标准核查 Check against the frameworks",
            responses=PLAN)
async def get_check(plan_id: str, session: AsyncSession = SessionDep,
                    rt: NodeRuntime = Depends(get_rt),
                    _: Any = Depends(require(Perm.read))) -> PlanCheck:
    """The no-lowered-standard check (不可随意删减和降低标准) of the working document against
    every ancestor framework in force."""
    return PlanCheck.model_validate(await service.check_plan(session=session, rt=rt,
                                                             plan_id=plan_id))


@router.post("/plans/{plan_id}/check", summary="核查未保存的修改 Check an edit before saving",
             responses=PLAN)
async def post_check(plan_id: str, document: DocumentJson,
                     session: AsyncSession = SessionDep,
                     rt: NodeRuntime = Depends(get_rt),
                     _: Any = Depends(require(Perm.read))) -> PlanCheck:
    """The no-lowered-standard check of a document that is not saved (the plan's working
    document as the user is editing it) against every ancestor framework in force; nothing
    is stored. The console calls it while the user types, so the rule lives in one place
    (node.plans.compliance)."""
    return PlanCheck.model_validate(await service.check_plan(
        session=session, rt=rt, plan_id=plan_id, document=_doc(document)))


@router.post("/plans/{plan_id}/publish", summary="颁布 Publish an approved plan",
             responses=PLAN_CHANGE)
async def post_publish(plan_id: str, req: PublishIn,
                       session: AsyncSession = SessionDep,
                       rt: NodeRuntime = Depends(get_rt),
                       user: Any = Depends(require(Perm.plans_approve))) -> Published:
    """Publish an approved plan as a new immutable version: released to the subtree as a
    framework and filed with the parent. Compliance findings block it unless an admin
    overrides them with a reason."""
    pv = await service.publish(session=session, rt=rt, plan_id=plan_id,
                               released_on=req.released_on, actor=user.name,
                               is_admin=user.role == "admin",
                               override_reason=req.override_reason)
    return Published(plan_id=plan_id, version=pv.version,
                     released_on=pv.released_on.isoformat(),
                     filed=pv.filing_envelope_id is not None,
                     overridden=bool(pv.override_reason))


@router.post("/plans/{plan_id}/revise", summary="修订 Start a revision of a published plan",
             responses=PLAN_CHANGE)
async def post_revise(plan_id: str, session: AsyncSession = SessionDep,
                      user: Any = Depends(require(Perm.plans_edit))) -> PlanRead:
    """Take a published plan back to draft to prepare its next version."""
    return PlanRead.of(await service.revise(session=session, plan_id=plan_id, actor=user.name))


EXPORT_FILES: dict[int | str, dict[str, Any]] = {200: {
    "description": "the plan as JSON, or as an XLSX task table",
    "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/plans/{plan_id}/export", summary="导出规划 Export a plan (JSON or XLSX)",
            response_model=PlanExport, responses={**EXPORT_FILES, **PLAN})
async def export_plan(plan_id: str, format: Literal["json", "xlsx"] = "json",
                      version: int | None = Query(default=None, ge=1, le=VERSION_MAX,
                                                  description="a published version (default: "
                                                  "the working document)"),
                      session: AsyncSession = SessionDep,
                      _: Any = Depends(require(Perm.read))) -> Response:
    """A plan's working document, or one of its published versions, as JSON (with its
    title) or as an XLSX task table."""
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
    return Response(json.dumps({"title": title, **doc.dump()}, ensure_ascii=False, indent=1),
                    media_type="application/json")


# ---- the task decomposition table (任务分解表, node.plans.tasks) ------------------------------

TASKS_BODY = {"requestBody": {"required": True, "content": {
    MULTIPART: {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "the XLSX task table (任务分解表)"}}},
                "encoding": {"file": {"contentType": XLSX}}}}}}
TASK_FILE: dict[int | str, dict[str, Any]] = {200: {
    "description": "the task table as XLSX (title, 序号 | 规划内容 | 牵头单位 | 责任单位)",
    "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/plans/{plan_id}/tasks", summary="任务分解表 The plan's task table",
            responses=PLAN)
async def get_tasks(plan_id: str, session: AsyncSession = SessionDep,
                    _: Any = Depends(require(Perm.read))) -> tasks.TaskTableRead:
    """The plan's task decomposition table: 序号, 规划内容, 牵头单位, 责任单位 per section, and
    the indicators each row links (it decides which member unit enters which values)."""
    return await tasks.get_table(session=session, plan_id=plan_id)


@router.get("/plans/{plan_id}/tasks/mine", summary="本人可填报的指标 What I may enter",
            responses={**PLAN, **errors(409)})
async def get_enterable(plan_id: str, session: AsyncSession = SessionDep,
                        rt: NodeRuntime = Depends(get_rt),
                        user: Any = Depends(require(Perm.read))) -> tasks.Enterable:
    """The indicators and areas the signed-in user may enter in this plan's annual reports:
    for a member unit, those the task table (else the indicators' own units) names it for."""
    plan = await service.get_plan(session, plan_id)
    codes, areas = await enterable(session=session, code=rt.cfg.code, kind=plan.kind,
                                   user=user)
    return tasks.Enterable(indicators=codes, areas=areas)


@router.put("/plans/{plan_id}/tasks", summary="保存任务分解表 Replace the plan's task table",
            responses=PLAN)
async def put_tasks(plan_id: str, req: tasks.TaskTableIn, session: AsyncSession = SessionDep,
                    user: Any = Depends(require(Perm.plans_edit))) -> tasks.TaskTableRead:
    """Replace the whole table (a bad row — an indicator not in the plan, a section of the
    other plan kind — is refused naming the row; nothing changes)."""
    return await tasks.replace_table(session=session, plan_id=plan_id, rows=req.rows,
                                     actor=user.name)


@router.post("/plans/{plan_id}/tasks/import", openapi_extra=TASKS_BODY,
             summary="导入任务分解表 Import the task table (XLSX)", responses=PLAN)
async def import_tasks(plan_id: str, request: Request, session: AsyncSession = SessionDep,
                       user: Any = Depends(require(Perm.plans_edit))) -> tasks.TaskTableRead:
    """Replace the table from an XLSX file laid out as seed 001's tables (multipart field
    ``file``); a malformed file is refused with the row named, and nothing changes."""
    if not request.headers.get("content-type", "").lower().startswith(MULTIPART):
        raise BadRequest("请以 multipart/form-data 上传 XLSX upload the XLSX as the form field "
                         "'file'", code="invalid_request")
    upload = (await read_form(request)).get("file")
    if not isinstance(upload, UploadFile):
        raise BadRequest("请附上文件 attach the XLSX task table as the form field 'file'",
                         code="invalid_request")
    return await tasks.import_xlsx(session=session, plan_id=plan_id, raw=await upload.read(),
                                   actor=user.name)


@router.get("/plans/{plan_id}/tasks/export", summary="导出任务分解表 Export the task table (XLSX)",
            response_model=tasks.TaskTableRead, responses={**TASK_FILE, **PLAN})
async def export_tasks(plan_id: str, format: Literal["xlsx", "json"] = "xlsx",
                       session: AsyncSession = SessionDep,
                       _: Any = Depends(require(Perm.read))) -> Response:
    """The task table as XLSX, in the layout it is imported in (or as JSON)."""
    if format == "json":
        t = await tasks.get_table(session=session, plan_id=plan_id)
        return Response(t.model_dump_json(), media_type="application/json")
    return Response(await tasks.export_xlsx(session=session, plan_id=plan_id),
                    media_type=XLSX, headers={
                        "Content-Disposition": f'attachment; filename="{plan_id}-tasks.xlsx"'})


@router.get("/frameworks", summary="上级框架 Frameworks received from ancestors",
            responses=ROLE_CHECKED)
async def list_frameworks(session: AsyncSession = SessionDep,
                          _: Any = Depends(require(Perm.read))) -> list[FrameworkRead]:
    """Every version of every ancestor's framework received here: what changed against the
    version before, and what it breaks in this office's plan."""
    rows = (await session.scalars(select(Framework).order_by(
        Framework.origin, Framework.kind, Framework.version))).all()
    return [FrameworkRead.of(f) for f in rows]


@router.get("/filings", summary="收到的备案 Plans filed by child offices",
            responses=ROLE_CHECKED)
async def list_filings(session: AsyncSession = SessionDep,
                       _: Any = Depends(require(Perm.read))) -> list[FilingRead]:
    """Plans filed here by child offices, with due date, lateness, the automatic check's
    findings and the outcome."""
    return [FilingRead.model_validate(f) for f in await filings.list_plan_filings(session)]


@router.post("/filings/{filing_id}/return", summary="退回备案 Return a filing",
             responses={**ROLE_CHECKED, **errors(404, 409)})
async def post_return(filing_id: str, req: ReturnIn,
                      session: AsyncSession = SessionDep,
                      rt: NodeRuntime = Depends(get_rt),
                      user: Any = Depends(require(Perm.filings_review))) -> Returned:
    """Send a filing back to the child office for correction, with reasons; the filer gets
    a signed 'returned' receipt and refiles."""
    await filings.return_filing(session=session, rt=rt, filing_id=filing_id,
                                reasons=req.reasons, actor=user.name)
    return Returned(id=filing_id, outcome="returned")


@router.get("/filings/sent", summary="报送的备案 Plans this office filed",
            responses=ROLE_CHECKED, response_model_exclude_unset=True)
async def list_sent(session: AsyncSession = SessionDep,
                    _: Any = Depends(require(Perm.read))) -> list[SentFilingRead]:
    """Plan filings this office sent to its parent, and the parent's signed answers."""
    rows = (await session.scalars(select(SentFiling).order_by(SentFiling.sent_at))).all()
    return [SentFilingRead.of(s) for s in rows]
