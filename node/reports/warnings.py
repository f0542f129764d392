"""Early warning (预警): off target now, projected to miss 2030, or volatile.

"每年对预计达标困难、波动较大的监测指标进行预警". Each warning carries the numbers behind it.

Volatility is judged per year: each reported year is compared with the previous reported
year, and the change is divided by the years between them (2021 → 2024 is three years of
change, not one). A swing is volatile when the yearly change exceeds ``volatility`` (±20% by
default) of the earlier value *and* exceeds ``volatility`` × the target in absolute terms —
so small counts and values near zero (0 → 1 death, a rate of 0.3 → 0.5) are not flagged
for their percentages alone. A rise from zero has no percentage; it is flagged when the
yearly rise exceeds that absolute threshold (for a target of 0, any rise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from node.plans.document import Indicator

END_YEAR = 2030


@dataclass(frozen=True)
class EarlyWarning:
    code: str
    name: str
    kind: str  # off_target | projected_miss | volatile
    detail: str
    latest_year: int
    latest_value: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def meets(ind: Indicator, value: float) -> bool:
    t = float(ind.target)
    if ind.comparator == "<":
        return value < t
    if ind.comparator == "<=":
        return value <= t
    if ind.comparator == ">":
        return value > t
    if ind.comparator == ">=":
        return value >= t
    return value <= t if ind.direction == "lower_is_better" else value >= t  # "=": a floor


def trend(series: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept of value over year."""
    n = len(series)
    mx = sum(y for y, _ in series) / n
    mv = sum(v for _, v in series) / n
    sxx = sum((y - mx) ** 2 for y, _ in series)
    slope = sum((y - mx) * (v - mv) for y, v in series) / sxx if sxx else 0.0
    return slope, mv - slope * mx


def warnings_for(ind: Indicator, series: list[tuple[int, float]], *,
                 volatility: float = 0.2) -> list[EarlyWarning]:
    """All warnings for one indicator from its yearly series (year, value)."""
    pts = sorted(series)
    if not pts:
        return []
    out: list[EarlyWarning] = []
    ly, lv = pts[-1]
    tgt = f"{ind.comparator} {ind.target:g}{ind.unit and ' ' + ind.unit}"

    def warn(kind: str, detail: str) -> None:
        out.append(EarlyWarning(ind.code, ind.name, kind, detail, ly, lv))

    if not meets(ind, lv):
        warn("off_target", f"{ly}年 {lv:g} 未达到目标 {tgt} (off target)")
    if len(pts) >= 3:
        slope, icpt = trend(pts)
        proj = slope * END_YEAR + icpt
        if not meets(ind, proj):
            warn("projected_miss", f"按{pts[0][0]}–{ly}年趋势 (每年 {slope:+.3g}) 预计"
                                   f"{END_YEAR}年为 {proj:.3g}，难以达到 {tgt} "
                                   "(projected to miss the 2030 target)")
    for (y0, v0), (y1, v1) in zip(pts, pts[1:], strict=False):
        swing = volatile(v0, v1, y1 - y0, target=float(ind.target), volatility=volatility)
        if swing is None:
            continue
        per = "" if y1 - y0 == 1 else f"，{y1 - y0}年间每年 per year"
        rate = ("从0上升 rise from zero" if v0 == 0 else f"波动 {swing:+.0%}{per}")
        warn("volatile", f"{y0}→{y1}年 {v0:g}→{v1:g}，{rate}，超过阈值 ±{volatility:.0%} "
                         "(volatile)")
        break
    return out


def volatile(v0: float, v1: float, years: int, *, target: float,
             volatility: float) -> float | None:
    """The yearly relative change from ``v0`` to ``v1`` over ``years`` if it counts as
    volatile (``inf`` for a rise from zero), else None. See the module's rule."""
    years = max(1, years)
    per_year = (v1 - v0) / years
    floor = volatility * abs(target)
    if abs(per_year) <= floor or per_year == 0:
        return None
    if v0 == 0:
        return math.inf
    rel = per_year / abs(v0)
    return rel if abs(rel) > volatility else None
