"""The "no lowered standard" check (不可随意删减和降低标准) and framework diffs.

A lower plan must carry every mandatory indicator of every ancestor framework in force, with a
target at least as strict in the indicator's direction. Strictness is comparator-aware: a
target is the set of values it allows; the local set must lie inside the ancestor's.
``< 12`` allows less than ``<= 12``; ``=`` counts as non-strict in the indicator's direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from node.plans.document import Indicator, PlanDocument
from node.plans.units import normalise


@dataclass(frozen=True)
class AncestorFramework:
    code: str
    name: str
    version: int
    document: PlanDocument


@dataclass(frozen=True)
class Finding:
    indicator: str
    name: str
    ancestor: str
    ancestor_name: str
    ancestor_target: str
    local_target: str | None
    reason: str  # missing | weaker | unit_mismatch | comparator_direction
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt(i: Indicator) -> str:
    return f"{i.comparator} {i.target:g}{i.unit and ' ' + i.unit}"


_UPPER = {"<": True, "<=": False}  # comparator -> strict?
_LOWER = {">": True, ">=": False}


def _bound(i: Indicator, direction: str) -> tuple[float, bool] | None:
    """(limit, strict) of the allowed side in ``direction``; None if the comparator points the
    other way (e.g. ``>`` on a lower-is-better indicator)."""
    table = _UPPER if direction == "lower_is_better" else _LOWER
    if i.comparator == "=":
        return float(i.target), False
    if i.comparator in table:
        return float(i.target), table[i.comparator]
    return None


def at_least_as_strict(local: Indicator, ancestor: Indicator) -> bool | None:
    """True/False, or None when the local comparator points against the direction."""
    direction = ancestor.direction
    lb, ab = _bound(local, direction), _bound(ancestor, direction)
    if lb is None or ab is None:
        return None
    (lt, ls), (at, as_) = lb, ab
    if lt == at:
        return ls or not as_  # equal limits: fine unless the ancestor is strict and local not
    return lt < at if direction == "lower_is_better" else lt > at


def check(plan: PlanDocument, frameworks: list[AncestorFramework]) -> list[Finding]:
    """Every failing indicator against every ancestor framework, with the reason."""
    local = plan.by_code()
    out: list[Finding] = []
    for fw in frameworks:
        for anc in fw.document.indicators:
            if not anc.mandatory:
                continue
            base = {"indicator": anc.code, "name": anc.name, "ancestor": fw.code,
                    "ancestor_name": fw.name, "ancestor_target": fmt(anc)}
            mine = local.get(anc.code)
            if mine is None:
                out.append(Finding(**base, local_target=None, reason="missing",
                                   detail=f"{fw.name}要求的约束性指标“{anc.name}”未列入本级规划 "
                                          f"(mandatory indicator dropped)"))
                continue
            if normalise(mine.unit) != normalise(anc.unit):
                out.append(Finding(**base, local_target=fmt(mine), reason="unit_mismatch",
                                   detail=f"单位不一致 unit {mine.unit!r} vs {anc.unit!r}: "
                                          "not compared; use the ancestor's unit"))
                continue
            ok = at_least_as_strict(mine, anc)
            if ok is None:
                out.append(Finding(**base, local_target=fmt(mine), reason="comparator_direction",
                                   detail=f"比较符方向错误 comparator {mine.comparator} points "
                                          f"against {anc.direction}"))
            elif not ok:
                better = "更低" if anc.direction == "lower_is_better" else "更高"
                out.append(Finding(**base, local_target=fmt(mine), reason="weaker",
                                   detail=f"目标低于上级标准 target {fmt(mine)} is weaker than "
                                          f"{fw.name} {fmt(anc)} (应{better}或相同)"))
    return out


def diff(old: PlanDocument | None, new: PlanDocument) -> dict[str, Any]:
    """Indicators added, removed and changed between two framework versions."""
    o = old.by_code() if old else {}
    n = new.by_code()
    changed = []
    for code in sorted(set(o) & set(n)):
        a, b = o[code], n[code]
        fields = [f for f in ("name", "unit", "comparator", "target", "direction", "mandatory",
                              "aggregation") if getattr(a, f) != getattr(b, f)]
        if fields:
            changed.append({"code": code, "name": b.name, "fields": fields,
                            "from": fmt(a), "to": fmt(b)})
    return {"added": [{"code": c, "name": n[c].name, "target": fmt(n[c])}
                      for c in sorted(set(n) - set(o))],
            "removed": [{"code": c, "name": o[c].name} for c in sorted(set(o) - set(n))],
            "changed": changed}
