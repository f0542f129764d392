"""The one unit table: every unit an indicator may have, how it is written, how a ratio is
scaled into it, and which values it can hold.

Units are matched after normalisation (full-width characters → half-width, spaces removed,
aliases such as "/10万" → "1/10万"), so "％" and "%" are one unit. A plan document with a unit
that is not in the table is refused at import (``node.plans.sheets.storable``), naming the
indicator and the known units. Values are checked by unit (:func:`value_problem`): a
percentage lies in 0–100, every other unit is non-negative; a ratio indicator (aggregation
``ratio``) is entered as numerator and denominator (denominator > 0, numerator ≥ 0).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    name: str  # canonical spelling
    scale: float  # numerator / denominator × scale = the value in this unit
    low: float = 0.0
    high: float = math.inf


PERCENT = "%"
UNITS: dict[str, Unit] = {u.name: u for u in [
    Unit("%", 100.0, 0.0, 100.0),
    Unit("‰", 1000.0),
    Unit("1/10万", 100_000.0),
    Unit("1/万", 10_000.0),
    Unit("名/千名儿童", 1000.0),
    Unit("张/千名儿童", 1000.0),
    Unit("名/万人", 10_000.0),
    Unit("张/万人", 10_000.0),
    Unit("人", 1.0), Unit("名", 1.0), Unit("个", 1.0), Unit("家", 1.0), Unit("所", 1.0),
    Unit("张", 1.0), Unit("次", 1.0), Unit("户", 1.0), Unit("件", 1.0), Unit("项", 1.0),
    Unit("万人", 1.0), Unit("人次", 1.0),
    Unit("岁", 1.0), Unit("年", 1.0), Unit("小时", 1.0), Unit("天", 1.0),
    Unit("元", 1.0), Unit("万元", 1.0), Unit("平方米", 1.0),
    Unit("", 1.0),  # no unit: a plain non-negative number
]}
ALIASES = {"/10万": "1/10万", "/十万": "1/10万", "1/十万": "1/10万", "1/100000": "1/10万",
           "/100000": "1/10万", "/万": "1/万", "1/10000": "1/万", "/千": "‰", "1/千": "‰",
           "1/1000": "‰", "/1000": "‰", "百分比": "%", "百分点": "%", "m²": "平方米",
           "㎡": "平方米", "周岁": "岁"}


def normalise(unit: str) -> str:
    """The canonical spelling of ``unit`` (it may still be unknown: see :func:`known`)."""
    u = unicodedata.normalize("NFKC", unit or "").replace(" ", "").strip()
    return ALIASES.get(u, u)


def known(unit: str) -> Unit | None:
    return UNITS.get(normalise(unit))


def known_list() -> str:
    return " ".join(n for n in UNITS if n) + " (or empty)"


def scale_of(unit: str) -> float:
    """numerator / denominator × scale = the value in ``unit`` (1 for counts and unknowns)."""
    u = known(unit)
    return u.scale if u is not None else 1.0


def value_problem(*, code: str, unit: str, aggregation: str, value: float | None,
                  numerator: float | None, denominator: float | None) -> str | None:
    """What is wrong with one indicator's figures, as a message (Chinese, then English), or
    None. The one check of values, used where a value is entered and where a child's report
    is received."""
    if aggregation == "ratio":
        if numerator is None or denominator is None:
            return (f"{code} 是比率指标，请填报分子和分母 is a ratio indicator: give numerator "
                    "and denominator, not a plain value")
    elif value is None and (numerator is None or denominator is None):
        return f"{code}: 请填报数值 give a value, or numerator and denominator"
    for what, x in (("value", value), ("numerator", numerator), ("denominator", denominator)):
        if x is not None and not math.isfinite(x):
            return f"{code}: {what} 不是有限数 is not a finite number"
    if denominator is not None and denominator <= 0:
        return f"{code}: 分母必须大于0 denominator must be greater than 0"
    if numerator is not None and numerator < 0:
        return f"{code}: 分子不能为负 numerator must not be negative"
    u = known(unit) or UNITS[""]
    x = value
    if x is None and numerator is not None and denominator:
        x = numerator / denominator * u.scale
    if x is not None and not u.low <= x <= u.high:
        if u.name == PERCENT:
            return (f"{code}: 百分比须在0–100之间 a percentage must lie in 0–100, not {x:g}"
                    + (" (numerator > denominator)" if value is None else ""))
        return (f"{code}: 数值不能为负 a value in {u.name or 'no unit'} must not be negative, "
                f"not {x:g}")
    return None
