"""Due dates and the no-lowered-standard check (pure functions)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from node.plans.compliance import AncestorFramework, at_least_as_strict, check, diff
from node.plans.dates import annual_report_due, late_days, plan_filing_due
from node.plans.document import Indicator, PlanDocument

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("released", "due"), [
    (date(2022, 1, 31), date(2022, 2, 28)), (date(2024, 1, 31), date(2024, 2, 29)),
    (date(2022, 3, 15), date(2022, 4, 15)), (date(2022, 12, 31), date(2023, 1, 31)),
    (date(2022, 8, 31), date(2022, 9, 30)),
])
def test_plan_filing_due_dates(released: date, due: date) -> None:
    assert plan_filing_due(released) == due


def test_on_time_means_by_the_end_of_the_due_day_in_shanghai() -> None:
    due = date(2022, 4, 15)
    assert late_days(datetime(2022, 4, 15, 23, 59, tzinfo=SH), due, SH) == 0
    assert late_days(datetime(2022, 4, 16, 0, 1, tzinfo=SH), due, SH) == 1
    # 2022-04-15 16:30 UTC is already 00:30 on the 16th in Shanghai
    assert late_days(datetime(2022, 4, 15, 16, 30, tzinfo=ZoneInfo("UTC")), due, SH) == 1
    assert late_days(datetime(2022, 5, 25, 10, 0, tzinfo=SH), due, SH) == 40
    assert annual_report_due(2023) == date(2024, 3, 31)


def ind(code: str, comparator: str, target: float, direction: str = "lower_is_better",
        unit: str = "%", mandatory: bool = True) -> Indicator:
    return Indicator(code=code, name=code, area="妇女与健康", unit=unit,
                     comparator=comparator, target=target,  # type: ignore[arg-type]
                     direction=direction, mandatory=mandatory)  # type: ignore[arg-type]


@pytest.mark.parametrize(("local", "ancestor", "ok"), [
    (("<", 10), ("<", 12), True), (("<", 12), ("<", 12), True), (("<", 12), ("<=", 12), True),
    (("<=", 12), ("<", 12), False), (("<=", 12), ("<=", 12), True), (("<", 13), ("<", 12), False),
    (("=", 12), ("<=", 12), True), (("=", 12), ("<", 12), False),
])
def test_lower_is_better(local: tuple[str, float], ancestor: tuple[str, float], ok: bool) -> None:
    assert at_least_as_strict(ind("x", *local), ind("x", *ancestor)) is ok


@pytest.mark.parametrize(("local", "ancestor", "ok"), [
    ((">", 90), (">", 85), True), ((">", 85), (">=", 85), True), ((">=", 85), (">", 85), False),
    ((">=", 80), (">=", 85), False), ((">=", 85), (">=", 85), True), (("=", 45), (">=", 45), True),
])
def test_higher_is_better(local: tuple[str, float], ancestor: tuple[str, float], ok: bool) -> None:
    hb = "higher_is_better"
    assert at_least_as_strict(ind("x", *local, direction=hb), ind("x", *ancestor, direction=hb)) \
        is ok


def fw(code: str, *inds: Indicator) -> AncestorFramework:
    return AncestorFramework(code, f"node{code}", 1, PlanDocument(indicators=list(inds)))


def test_check_reports_each_failure_with_reason() -> None:
    prov = fw("150000", ind("A", "<", 12), ind("B", ">", 70, "higher_is_better"),
              ind("C", "<", 2), ind("D", "<", 5, mandatory=False), ind("E", "<", 8, unit="‰"))
    city = fw("150600", ind("A", "<", 10))  # stricter than the province
    plan = PlanDocument(indicators=[ind("A", "<", 11), ind("B", ">=", 70, "higher_is_better"),
                                    ind("E", "<", 0.8, unit="%")])
    found = {(f.ancestor, f.indicator): f for f in check(plan, [prov, city])}
    assert set(found) == {("150000", "B"), ("150000", "C"), ("150000", "E"), ("150600", "A")}
    assert found[("150000", "B")].reason == "weaker"
    assert found[("150000", "C")].reason == "missing"
    assert found[("150000", "E")].reason == "unit_mismatch"
    a = found[("150600", "A")]
    assert (a.reason, a.ancestor_target, a.local_target) == ("weaker", "< 10 %", "< 11 %")
    assert not check(PlanDocument(indicators=[ind("A", "<", 10), ind("B", ">", 70,
                                                                     "higher_is_better"),
                                              ind("C", "<", 2), ind("E", "<", 8, unit="‰")]),
                     [prov, city])


def test_comparator_pointing_the_wrong_way_is_reported() -> None:
    (f,) = check(PlanDocument(indicators=[ind("A", ">", 12)]), [fw("1", ind("A", "<", 12))])
    assert f.reason == "comparator_direction"


def test_diff_lists_added_removed_changed() -> None:
    old = PlanDocument(indicators=[ind("A", "<", 12), ind("B", "<", 3)])
    new = PlanDocument(indicators=[ind("A", "<", 10), ind("C", "<", 1)])
    d = diff(old, new)
    assert [x["code"] for x in d["added"]] == ["C"]
    assert [x["code"] for x in d["removed"]] == ["B"]
    assert d["changed"] == [{"code": "A", "name": "A", "fields": ["target"], "from": "< 12 %",
                             "to": "< 10 %"}]
