"""Aggregation and early warning (pure functions)."""

from __future__ import annotations

import pytest

from node.plans.document import Indicator
from node.reports.aggregate import Reported, aggregate
from node.reports.warnings import warnings_for


def ind(method: str = "ratio", unit: str = "1/10万", comparator: str = "<", target: float = 12,
        direction: str = "lower_is_better") -> Indicator:
    return Indicator(code="W-HEALTH-01", name="孕产妇死亡率", area="妇女与健康", unit=unit,
                     comparator=comparator, target=target, direction=direction,  # type: ignore[arg-type]
                     aggregation=method)  # type: ignore[arg-type]


def test_ratio_sums_numerators_and_denominators_not_the_mean_of_rates() -> None:
    # county A: 2 maternal deaths in 10,000 live births (20/10万);
    # county B: 1 in 40,000 (2.5/10万). Mean of the rates: 11.25. True rate: 3/50,000 = 6.
    values = {"A": Reported(None, 2, 10_000), "B": Reported(None, 1, 40_000)}
    fig = aggregate(ind(), ["A", "B"], values)
    assert fig.numerator == 3 and fig.denominator == 50_000
    assert fig.value == pytest.approx(6.0)
    mean_of_rates = (20 + 2.5) / 2
    assert fig.value != pytest.approx(mean_of_rates)
    assert fig.children == {"A": pytest.approx(20.0), "B": pytest.approx(2.5)}


def test_missing_children_are_missing_not_zero() -> None:
    fig = aggregate(ind(method="sum", unit="人"), ["A", "B", "C"],
                    {"A": Reported(5), "C": Reported(7)})
    assert fig.value == 12 and fig.missing == ["B"] and fig.coverage == "2/3"
    mean = aggregate(ind(method="mean", unit="%"), ["A", "B", "C"],
                     {"A": Reported(90), "C": Reported(80)})
    assert mean.value == 85  # not (90 + 0 + 80) / 3
    none = aggregate(ind(), ["A", "B"], {})
    assert none.value is None and none.coverage == "0/2" and none.note == "no child reported"


@pytest.mark.parametrize(("method", "expected"), [("min", 80), ("max", 95), ("sum", 265),
                                                  ("none", None)])
def test_other_methods(method: str, expected: float | None) -> None:
    fig = aggregate(ind(method=method, unit="%"), ["A", "B", "C"],
                    {"A": Reported(90), "B": Reported(95), "C": Reported(80)})
    assert fig.value == expected


def test_ratio_child_without_numerator_is_excluded_and_said() -> None:
    fig = aggregate(ind(), ["A", "B"], {"A": Reported(None, 1, 10_000), "B": Reported(9.0)})
    assert fig.value == pytest.approx(10.0) and fig.missing == ["B"]
    assert "left out of the ratio" in fig.note


def kinds(ws: list) -> set[str]:  # type: ignore[type-arg]
    return {w.kind for w in ws}


def test_off_target_both_directions() -> None:
    assert kinds(warnings_for(ind(), [(2023, 13.0)])) == {"off_target"}
    assert kinds(warnings_for(ind(), [(2023, 11.0)])) == set()
    hb = ind(unit="%", comparator=">=", target=70, direction="higher_is_better")
    (w,) = warnings_for(hb, [(2023, 65.0)])
    assert w.kind == "off_target" and "65" in w.detail and ">= 70" in w.detail
    assert warnings_for(hb, [(2023, 72.0)]) == []


def test_trend_projected_to_miss_2030() -> None:
    # on target now (11.0 < 12) but rising 0.3 a year: 2030 projection 12.5
    series = [(2022, 10.1), (2023, 10.4), (2024, 10.7), (2025, 11.0)]
    ws = warnings_for(ind(), series)
    assert kinds(ws) == {"projected_miss"}
    assert "2030" in ws[0].detail and "12.5" in ws[0].detail
    falling = [(2022, 11.9), (2023, 11.5), (2024, 11.2), (2025, 10.8)]
    assert warnings_for(ind(), falling) == []
    assert warnings_for(ind(), series[:2]) == []  # two points are not a trend


def test_volatility_threshold() -> None:
    series = [(2023, 10.0), (2024, 11.5)]  # +15%
    assert kinds(warnings_for(ind(), series, volatility=0.2)) == set()
    ws = warnings_for(ind(), series, volatility=0.1)
    assert kinds(ws) == {"volatile"} and "+15%" in ws[0].detail
