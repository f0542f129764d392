"""The content of a plan (and of a framework, which is an ancestor's published plan).

A plan document has areas (领域) with goals and free-text strategy measures (策略措施), and
indicators. ``schemas/plan-document.schema.json`` is generated from these models
(tests check it is current) so other implementations can read the exchanged documents.
"""

from __future__ import annotations

import calendar
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Kind = Literal["women", "children"]
Comparator = Literal["<", "<=", ">", ">=", "="]
Direction = Literal["lower_is_better", "higher_is_better"]
Aggregation = Literal["ratio", "sum", "mean", "min", "max", "none"]
KINDS: tuple[Kind, ...] = ("women", "children")
KIND_NAMES = {"women": "妇女发展规划", "children": "儿童发展规划"}


class DocumentError(ValueError):
    """A plan document is invalid; ``location`` names the field (or sheet row and column)."""

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.message = message
        self.location = location


class Indicator(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    area: str = Field(min_length=1)
    goal: str | None = None
    unit: str = ""
    comparator: Comparator
    target: int | float
    direction: Direction
    aggregation: Aggregation = "ratio"
    mandatory: bool = True  # lower levels must carry it
    lead_unit: str | None = None  # 牵头单位
    responsible_units: list[str] = Field(default_factory=list)  # 责任单位


class Area(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    goals: list[str] = Field(default_factory=list)
    measures: str = ""  # 策略措施, free text


def _optional_deadline(schema: dict[str, Any]) -> None:
    """child_plan_due_months may be left out (documents written before it existed, and the
    console's), also in the serialization schema the console's types are generated from."""
    # no "default" either: the console's generated types would make a field with a default
    # non-optional
    for name in ("child_plan_due_months", "evaluation_due"):
        schema.get("properties", {}).get(name, {}).pop("default", None)
        req = schema.get("required")
        if isinstance(req, list) and name in req:
            req.remove(name)
            if not req:
                del schema["required"]


class PlanDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_optional_deadline)

    areas: list[Area] = Field(default_factory=list)
    indicators: list[Indicator] = Field(default_factory=list)
    annual_report_due: str = Field(default="03-31", pattern=r"^\d\d-\d\d$",
                                   description="MM-DD of the year after the reported year")
    child_plan_due_months: int | None = Field(
        default=None, ge=1, le=36,
        description="months after this office's first release of the plan within which each "
                    "office directly below must file its own plan (none: no deadline, a plan "
                    "never filed stays pending)")
    evaluation_due: str | None = Field(
        default=None, pattern=r"^\d\d-\d\d$",
        description="MM-DD of the year after an evaluation stage (2025 mid-term, 2030 "
                    "final) by which the evaluation report is due (none: 06-30)")

    @field_validator("evaluation_due")
    @classmethod
    def _evaluation_day(cls, v: str | None) -> str | None:
        """A real month-day, as annual_report_due (node.evaluations.service clamps it)."""
        if v is None:
            return v
        m, d = (int(x) for x in v.split("-"))
        if not (1 <= m <= 12 and 1 <= d <= calendar.monthrange(2024, m)[1]):
            raise ValueError(f"评估报告截止日无效 evaluation_due {v!r} is not a month-day "
                             "(MM-DD, e.g. 06-30)")
        return v

    @field_validator("annual_report_due")
    @classmethod
    def _month_day(cls, v: str) -> str:
        """A real month-day ("13-45" is not); "02-29" is allowed and falls on February 28 in
        a common year (node.plans.dates.annual_report_due clamps to the month's end)."""
        m, d = (int(x) for x in v.split("-"))
        if not (1 <= m <= 12 and 1 <= d <= calendar.monthrange(2024, m)[1]):
            raise ValueError(f"年报截止日无效 annual_report_due {v!r} is not a month-day "
                             "(MM-DD, e.g. 03-31)")
        return v

    @field_validator("indicators")
    @classmethod
    def _unique(cls, v: list[Indicator]) -> list[Indicator]:
        seen: set[str] = set()
        for i in v:
            if i.code in seen:
                raise ValueError(f"indicator code {i.code} appears twice")
            seen.add(i.code)
        return v

    def by_code(self) -> dict[str, Indicator]:
        return {i.code: i for i in self.indicators}

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_document(data: Any) -> PlanDocument:
    """Validate a document (from JSON, the API or an envelope); errors name the field."""
    try:
        return PlanDocument.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = "/" + "/".join(str(p) for p in err["loc"])
        raise DocumentError(str(err["msg"]), loc) from None


def from_framework_json(data: dict[str, Any], kind: Kind) -> PlanDocument:
    """Load ``framework-sample.json`` (or a file of the same layout) as-is for one plan kind.

    Layout: ``areas`` maps kind → list of area names; ``indicators`` is a list with a ``plan``
    field. A file that is already a PlanDocument (``areas`` is a list) is taken directly.
    """
    if isinstance(data.get("areas"), list):
        return parse_document(data)
    areas = data.get("areas", {}).get(kind)
    if not isinstance(areas, list):
        raise DocumentError(f"no area list for plan kind {kind!r}", "/areas")
    rows = []
    for n, i in enumerate(data.get("indicators", [])):
        plan = i.get("plan", kind)
        if plan not in KINDS:
            raise DocumentError(f"指标 {i.get('code') or i.get('name')} 的规划类别 {plan!r} 未知 "
                                f"unknown plan kind; use one of {', '.join(KINDS)}",
                                f"/indicators/{n}/plan")
        claimed = kind_of_code(str(i.get("code") or ""))
        if claimed is not None and claimed != plan:
            raise DocumentError(f"指标 {i.get('code')} 的编码属于{KIND_NAMES[claimed]} but it "
                                f"is listed under plan kind {plan!r}", f"/indicators/{n}/plan")
        if plan == kind:
            rows.append(i)
    return parse_document({"areas": [{"name": a} for a in areas], "indicators": rows})


# what marks an indicator or an area as one plan kind's: the code prefix of the national
# frameworks (W-…, C-…) and the area names (妇女与健康, 儿童与健康 …)
CODE_PREFIX: dict[str, Kind] = {"W-": "women", "C-": "children"}
AREA_PREFIX: dict[str, Kind] = {"妇女": "women", "儿童": "children"}


def kind_of_code(code: str) -> Kind | None:
    for prefix, kind in CODE_PREFIX.items():
        if code.upper().startswith(prefix):
            return kind
    return None


def kind_mismatch(doc: PlanDocument, kind: str) -> DocumentError | None:
    """A document that belongs to the other plan kind (a women's task table imported as the
    children's plan): an indicator code or an area name of the other kind."""
    for n, i in enumerate(doc.indicators):
        other = kind_of_code(i.code)
        if other is not None and other != kind:
            return DocumentError(f"指标 {i.code} {i.name} 属于{KIND_NAMES[other]}，不能导入为"
                                 f"{KIND_NAMES.get(kind, kind)} indicator belongs to the {other} "
                                 f"plan, not the {kind} plan", f"/indicators/{n}/code")
    for n, i in enumerate(doc.indicators):
        for prefix, owner in AREA_PREFIX.items():
            if i.area.startswith(prefix) and owner != kind:
                return DocumentError(f"指标 {i.code} 的领域“{i.area}”属于{KIND_NAMES[owner]} "
                                     f"the indicator's area belongs to the {owner} plan, not "
                                     f"the {kind} plan", f"/indicators/{n}/area")
    for n, a in enumerate(doc.areas):
        for prefix, owner in AREA_PREFIX.items():
            if a.name.startswith(prefix) and owner != kind:
                return DocumentError(f"领域“{a.name}”属于{KIND_NAMES[owner]}，不能导入为"
                                     f"{KIND_NAMES.get(kind, kind)} area belongs to the {owner} "
                                     f"plan, not the {kind} plan", f"/areas/{n}/name")
    return None




def document_schema() -> dict[str, Any]:
    schema = PlanDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "plansync plan document (areas, goals, measures, indicators)"
    return schema


if __name__ == "__main__":  # regenerate schemas/plan-document.schema.json
    out = Path(__file__).resolve().parents[2] / "schemas" / "plan-document.schema.json"
    out.write_text(json.dumps(document_schema(), ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"wrote {out}")
