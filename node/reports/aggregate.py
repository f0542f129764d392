"""Aggregation of children's filed values into this node's figures, by indicator method.

ratio: Σ numerators / Σ denominators × the unit's scale (never the mean of percentages);
sum, mean, min, max over the children that reported; none: not aggregated. A child that has
not reported is listed as missing and never counted as zero; coverage is shown with every
figure. The children are the expected ones (node.reports.service.children_of: enrolled plus
the division tree's children that never enrolled), so coverage is "reported of all".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.plans.document import Indicator
from node.plans.units import scale_of

__all__ = ["Figure", "Reported", "aggregate", "scale_of"]


@dataclass
class Reported:
    """One node's figures for an indicator in one year."""

    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None

    def resolved(self, unit: str) -> float | None:
        if self.value is not None:
            return self.value
        if self.numerator is not None and self.denominator:
            return self.numerator / self.denominator * scale_of(unit)
        return None


@dataclass
class Figure:
    code: str
    name: str
    unit: str
    method: str
    value: float | None
    numerator: float | None
    denominator: float | None
    reported: list[str]
    missing: list[str]
    children: dict[str, float | None] = field(default_factory=dict)  # drill-down
    note: str = ""

    @property
    def coverage(self) -> str:
        return f"{len(self.reported)}/{len(self.reported) + len(self.missing)}"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "unit": self.unit, "method": self.method,
                "value": self.value, "numerator": self.numerator,
                "denominator": self.denominator, "coverage": self.coverage,
                "reported": self.reported, "missing": self.missing, "children": self.children,
                "note": self.note}


def aggregate(ind: Indicator, children: list[str],
              values: dict[str, Reported | None]) -> Figure:
    """Combine children's values of one indicator. ``values`` maps child code → its figures
    (None or absent: not reported)."""
    got = {c: v for c, v in ((c, values.get(c)) for c in children) if v is not None}
    fig = Figure(ind.code, ind.name, ind.unit, ind.aggregation, None, None, None,
                 reported=sorted(got), missing=sorted(set(children) - set(got)),
                 children={c: (v.resolved(ind.unit) if v else None) for c, v in
                           ((c, values.get(c)) for c in sorted(children))})
    if not got or ind.aggregation == "none":
        fig.note = "no child reported" if not got else "not aggregated (method none)"
        return fig
    if ind.aggregation == "ratio":
        pairs = [(v.numerator, v.denominator) for v in got.values()]
        usable = [(n, d) for n, d in pairs if n is not None and d]
        if len(usable) != len(pairs):
            fig.note = (f"{len(pairs) - len(usable)} reporting child(ren) gave no numerator/"
                        "denominator and are left out of the ratio")
            fig.reported = sorted(c for c, v in got.items()
                                  if v.numerator is not None and v.denominator)
            fig.missing = sorted(set(children) - set(fig.reported))
        if usable:
            fig.numerator = sum(n for n, _ in usable if n is not None)
            fig.denominator = sum(d for _, d in usable if d is not None)
            fig.value = fig.numerator / fig.denominator * scale_of(ind.unit)
        return fig
    nums = [x for x in (v.resolved(ind.unit) for v in got.values()) if x is not None]
    if not nums:
        fig.note = "children reported no usable value"
        return fig
    if ind.aggregation == "sum":
        fig.value = sum(nums)
    elif ind.aggregation == "mean":
        fig.value = sum(nums) / len(nums)
    elif ind.aggregation == "min":
        fig.value = min(nums)
    elif ind.aggregation == "max":
        fig.value = max(nums)
    return fig
