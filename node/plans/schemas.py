"""What the plans API (/api/v1/plans, /api/v1/frameworks) takes and returns.

Plan documents are read by the services themselves (``node.plans.document``: errors name the
field, framework files are converted), so the models carry them as JSON objects; the OpenAPI
document still describes them exactly, as the ``PlanDocument`` component (``components()``,
added by node.app)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from node.models import Framework, Plan, PlanComment, PlanEvent, PlanVersion
from node.plans.dates import RELEASE_FIRST, RELEASE_LAST
from node.plans.document import KINDS, PlanDocument
from node.plans.service import STEPS
from node.plans.sheets import TITLE_MAX
from node.schema_types import REF, IsoDate, NodeCode, Timestamp, model_components, named, one_of
from sync import format_ts

VERSION_MAX = 2**31 - 1  # plan_versions.version is a 32-bit integer
KIND = one_of(KINDS)
STEP = one_of(STEPS)
PlanStatus = Literal["draft", "consultation", "expert_review", "submitted", "approved",
                     "published"]

# a plan document as JSON (checked by node.plans.document, which names the field at fault)
DocumentJson = Annotated[dict[str, Any], WithJsonSchema(named("PlanDocument"))]
FRAMEWORK_FILE: dict[str, Any] = {
    "title": "FrameworkFile", "type": "object", "required": ["areas"],
    "description": "a framework file laid out like node/data/framework-sample.json: area "
                   "names by plan kind, and indicators each with the plan kind they belong to "
                   "(`plan`); other members are ignored",
    "properties": {
        "areas": {"type": "object", "properties": {
            k: {"type": "array", "items": {"type": "string"}} for k in KINDS}},
        "indicators": {"type": "array", "items": {"allOf": [
            {"$ref": REF + "Indicator"},
            {"type": "object", "properties": {"plan": {"enum": list(KINDS)}}}]}},
    },
}
ImportDocumentJson = Annotated[dict[str, Any], WithJsonSchema({"anyOf": [
    named("PlanDocument"), named("FrameworkFile")]})]


def components() -> dict[str, Any]:
    """The schemas referred to by name that FastAPI does not see: PlanDocument (with Area and
    Indicator), FrameworkFile, and the import's bodies (read by the endpoint itself)."""
    return {**model_components(PlanDocument, PlanImport, PlanImportUpload),
            "FrameworkFile": FRAMEWORK_FILE}


# ---- requests -------------------------------------------------------------------------------

Kind = Annotated[str, Field(max_length=10, description="women | children",
                            json_schema_extra=KIND)]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX,
                             description="the plan's title, e.g. 内蒙古自治区妇女发展规划")]


class PlanCreate(BaseModel):
    kind: Kind
    title: Title
    document: DocumentJson = Field(default_factory=dict)


class PlanImport(BaseModel):
    """Import as JSON: a plan document, or a framework file (the plan kind's part of it)."""

    kind: Kind
    title: Title
    document: ImportDocumentJson
    replace: bool = Field(default=False, description="replace the working document of an "
                          "existing editable plan of this kind (without it: 409)")


class PlanImportUpload(BaseModel):
    """Import a file (multipart/form-data): an XLSX task table (任务分解表, the layout of
    node/plans/sheets.py) or a JSON file as ``document`` of PlanImport."""

    kind: Kind
    title: Title
    file: bytes = Field(description="the XLSX task table (or a JSON file)")
    replace: bool = Field(default=False, description="replace the working document of an "
                          "existing editable plan of this kind (without it: 409)")


class StepIn(BaseModel):
    note: str | None = Field(default=None, description="why, or what was decided")


class CommentIn(BaseModel):
    unit: str = Field(max_length=100, description="member unit (成员单位), e.g. 卫健委")
    text: str


class PublishIn(BaseModel):
    released_on: date = Field(description="release date (颁布日期), 2000-01-01 to 2099-12-31")
    override_reason: str | None = Field(default=None, description="an admin publishing over "
                                        "compliance findings says why (recorded)")

    @field_validator("released_on")
    @classmethod
    def _released_on(cls, v: date) -> date:
        if not RELEASE_FIRST <= v <= RELEASE_LAST:
            raise ValueError(f"release date {v} is outside {RELEASE_FIRST} to {RELEASE_LAST}")
        return v


# ---- answers --------------------------------------------------------------------------------


class PlanRead(BaseModel):
    id: str = Field(description="<code>-<kind>, e.g. 150000-women")
    kind: Literal["women", "children"]
    title: str
    status: PlanStatus
    consultation_round: int
    current_version: int = Field(description="newest published version (0: none yet)")
    submitted_by: str | None
    approved_by: str | None
    indicators: int = Field(description="number of indicators in the working document")
    updated_at: Timestamp

    @classmethod
    def of(cls, p: Plan) -> PlanRead:
        return cls(id=p.id, kind=p.kind, title=p.title, status=p.status,
                   consultation_round=p.consultation_round, current_version=p.current_version,
                   submitted_by=p.submitted_by, approved_by=p.approved_by,
                   indicators=len(p.document.get("indicators", [])),
                   updated_at=format_ts(p.updated_at))


class PlanEventRead(BaseModel):
    step: str = Field(description="create, edit, a workflow step, publish or revise")
    actor: str
    at: Timestamp
    round: int | None = Field(description="consultation round")
    note: str | None

    @classmethod
    def of(cls, e: PlanEvent) -> PlanEventRead:
        return cls(step=e.step, actor=e.actor, at=format_ts(e.at), round=e.round, note=e.note)


class CommentRead(BaseModel):
    round: int
    unit: str
    author: str
    text: str
    at: Timestamp

    @classmethod
    def of(cls, c: PlanComment) -> CommentRead:
        return cls(round=c.round, unit=c.unit, author=c.author, text=c.text, at=format_ts(c.at))


class PlanVersionRead(BaseModel):
    version: int
    released_on: IsoDate
    published_by: str
    override_reason: str | None

    @classmethod
    def of(cls, v: PlanVersion) -> PlanVersionRead:
        return cls(version=v.version, released_on=v.released_on.isoformat(),
                   published_by=v.published_by, override_reason=v.override_reason)


class PlanDetail(PlanRead):
    document: DocumentJson
    history: list[PlanEventRead]
    comments: list[CommentRead]
    versions: list[PlanVersionRead]


class CommentCreated(BaseModel):
    round: int
    unit: str


class Finding(BaseModel):
    """An indicator of this plan that lowers an ancestor's standard (node.plans.compliance)."""

    indicator: str
    name: str
    ancestor: NodeCode
    ancestor_name: str
    ancestor_target: str
    local_target: str | None
    reason: Literal["missing", "weaker", "unit_mismatch", "comparator_direction"]
    detail: str


class CheckedAgainst(BaseModel):
    code: NodeCode
    name: str
    version: int


class PlanCheck(BaseModel):
    plan_id: str
    ok: bool
    checked_against: list[CheckedAgainst]
    findings: list[Finding]


class Published(BaseModel):
    plan_id: str
    version: int
    released_on: IsoDate
    filed: bool = Field(description="a filing went to the parent")
    overridden: bool = Field(description="published over compliance findings")


class PlanExport(PlanDocument):
    """GET …/export?format=json: the document with the plan's title."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)

    title: str


class DiffAdded(BaseModel):
    code: str
    name: str
    target: str


class DiffRemoved(BaseModel):
    code: str
    name: str


class DiffChanged(BaseModel):
    code: str
    name: str
    fields: list[str]
    from_: str = Field(alias="from")
    to: str


class FrameworkDiff(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    added: list[DiffAdded] = Field(default_factory=list)
    removed: list[DiffRemoved] = Field(default_factory=list)
    changed: list[DiffChanged] = Field(default_factory=list)
    previous_version: int | None = Field(default=None, description="the version compared with")


class FrameworkRead(BaseModel):
    origin: NodeCode
    kind: Literal["women", "children"]
    version: int
    title: str
    released_on: IsoDate
    received_at: Timestamp
    diff: FrameworkDiff
    breaks: list[Finding] = Field(description="what this version breaks in this node's plan")
    document: DocumentJson

    @classmethod
    def of(cls, f: Framework) -> FrameworkRead:
        return cls.model_validate({
            "origin": f.origin, "kind": f.kind, "version": f.version, "title": f.title,
            "released_on": f.released_on.isoformat(), "received_at": format_ts(f.received_at),
            "diff": f.diff, "breaks": f.breaks, "document": f.document})


class UnitRead(BaseModel):
    """One unit of the unit table (node.plans.units)."""

    name: str = Field(description="the canonical spelling")
    scale: float = Field(description="numerator / denominator × scale = the value in this unit")
    low: float = Field(description="the smallest value allowed")
    high: float | None = Field(description="the largest value allowed (null: no bound)")


class UnitTable(BaseModel):
    units: list[UnitRead]
    aliases: dict[str, str] = Field(description="other spellings → the canonical one (after "
                                    "full-width → half-width and removing spaces)")
