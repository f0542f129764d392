"""The content of a plan (and of a framework, which is an ancestor's published plan).

A plan document has areas (领域) with goals and free-text strategy measures (策略措施), and
indicators. ``schemas/plan-document.schema.json`` is generated from these models
(tests check it is current) so other implementations can read the exchanged documents.
"""

from __future__ import annotations

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


class PlanDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    areas: list[Area] = Field(default_factory=list)
    indicators: list[Indicator] = Field(default_factory=list)
    annual_report_due: str = Field(default="03-31", pattern=r"^\d\d-\d\d$",
                                   description="MM-DD of the year after the reported year")

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
    rows = [i for i in data.get("indicators", []) if i.get("plan", kind) == kind]
    return parse_document({"areas": [{"name": a} for a in areas], "indicators": rows})




def document_schema() -> dict[str, Any]:
    schema = PlanDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "plansync plan document (areas, goals, measures, indicators)"
    return schema


if __name__ == "__main__":  # regenerate schemas/plan-document.schema.json
    out = Path(__file__).resolve().parents[2] / "schemas" / "plan-document.schema.json"
    out.write_text(json.dumps(document_schema(), ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"wrote {out}")
