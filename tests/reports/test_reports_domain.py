"""The reports' and the audit's rules at their edges (issue #14, "Wrong today"): values by
unit, ratio indicators, the due day of a common year, volatility per year, a returned report
that is never refiled, what was really due for an office that joined late, and the due day of
the framework a county actually reports under."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from node.audit.timeliness import timeliness
from node.db import transaction
from node.errors import BadRequest
from node.filings import service as filings
from node.models import KnownNode, LedgerEntry, ReceivedReport
from node.plans import service as plans
from node.plans.document import Indicator, PlanDocument
from node.plans.sheets import load_file
from node.reports import service
from node.reports.warnings import volatile, warnings_for
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.reports.test_reports_flow import admin, at

TREE = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000"),
        ("150603", "康巴什区", "county", "150600"), ("150602", "东胜区", "county", "150600")]
MMR = "W-HEALTH-01"  # ratio, 1/10万
PCT = "W-HEALTH-02"  # ratio, %


async def enrolled_in(c: Cluster, year: int, codes: list[str] | None = None,
                      month: int = 6) -> None:
    """Date the offices' enrolment back (everywhere they are known)."""
    for code in c.apps:
        async with transaction(c.rt(code).sessions) as s:
            q = update(KnownNode).where(KnownNode.relation.in_(("child", "descendant")))
            if codes is not None:
                q = q.where(KnownNode.code.in_(codes))
            await s.execute(q.values(enrolled_at=datetime(year, month, 5, tzinfo=UTC)))


async def plans_with(c: Cluster, due: dict[str, str]) -> None:
    """Every node gets the sample women's plan, with its own annual report due day."""
    for code in c.apps:
        doc = load_file(SAMPLE, "women").model_copy(
            update={"annual_report_due": due.get(code, "03-31")})
        async with transaction(c.rt(code).sessions) as s:
            await plans.create_plan(session=s, code=code, kind="women", title="t",
                                    document=doc, actor="t")


async def file(c: Cluster, code: str, year: int, values: dict[str, Any],
               when: datetime) -> None:
    rt = c.rt(code)
    async with transaction(rt.sessions) as s:
        for ind, (num, den) in values.items():
            await service.enter_value(session=s, code=code, kind="women", year=year,
                                      indicator=ind, user=admin(), numerator=num,
                                      denominator=den)
        await service.file_report(session=s, rt=rt, kind="women", year=year, actor="t")
    parent = TREE_PARENT[code]
    c.rt(parent).clock = lambda: when
    await c.settle()


TREE_PARENT = {code: parent for code, _, _, parent in TREE if parent}


# ---- 4. values by unit ---------------------------------------------------------------------

async def test_values_are_checked_by_unit_where_entered_and_where_received(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        await plans_with(c, {})
        async with transaction(c.rt("150603").sessions) as s:
            for kw, why in [({"numerator": 150, "denominator": 100}, "0–100"),
                            ({"numerator": -3, "denominator": 100}, "negative"),
                            ({"value": 50.0}, "numerator and denominator"),
                            ({"numerator": 1, "denominator": 0}, "greater than 0")]:
                with pytest.raises(BadRequest, match=why) as e:
                    await service.enter_value(session=s, code="150603", kind="women",
                                              year=2025, indicator=PCT, user=admin(), **kw)
                assert e.value.code == "invalid_value"
        # over the API: a clear typed 400, and nothing stored
        from tests.plans.test_plans_domain import _err, _tokens

        h = await _tokens(c, "150603", [("ed", "editor", None)])
        async with c.client("150603") as cl:
            url = f"/api/v1/reports/women/2025/values/{PCT}"
            err = _err(await cl.put(url, headers=h["ed"], json={"value": 150}), 400)
            assert err["code"] == "invalid_value" and "比率" in err["message"]
            err = _err(await cl.put(url, headers=h["ed"], json={
                "numerator": 3, "denominator": 2}), 400)
            assert "0–100" in err["message"]
            assert (await cl.put(url, headers=h["ed"], json={
                "numerator": 3, "denominator": 4})).status_code == 200
        # a report that bypassed the check (an older or other implementation) is returned
        # by the receiver with the reasons, not accepted and then counted as missing
        from node.models import ReportValue

        rt = c.rt("150603")
        async with transaction(rt.sessions) as s:
            await service.enter_value(session=s, code="150603", kind="women", year=2025,
                                      indicator=MMR, user=admin(), numerator=2,
                                      denominator=10_000)
            row = await s.get(ReportValue, ("150603-women-2025", MMR))
            assert row is not None
            row.value, row.numerator, row.denominator = 9.0, None, None
            await service.file_report(session=s, rt=rt, kind="women", year=2025, actor="t")
        await c.settle()
        async with c.rt("150600").sessions() as s:
            (got,) = (await s.scalars(select(ReceivedReport))).all()
        assert got.outcome == "returned" and MMR in (got.reasons or "")
        async with rt.sessions() as s:
            assert (await service.get_report(s, "150603", "women", 2025)).status == "returned"


# ---- 5. volatility -------------------------------------------------------------------------

def _ind(target: float, unit: str = "1/10万") -> Indicator:
    return Indicator(code="X", name="x", area="妇女与健康", unit=unit, comparator="<",
                     target=target, direction="lower_is_better")


def test_volatility_per_year_from_zero_and_small_values() -> None:
    def vol(series: list[tuple[int, float]], target: float = 12) -> bool:
        return any(w.kind == "volatile" for w in warnings_for(_ind(target), series))

    assert vol([(2022, 10.0), (2023, 13.0)])  # +30% in a year
    assert not vol([(2021, 10.0), (2024, 13.0)])  # +30% over three years: +10% a year
    assert vol([(2023, 0.0), (2024, 8.0)])  # a rise from zero is flagged
    assert not vol([(2023, 0.0), (2024, 1.0)])  # ... unless it is tiny against the target
    assert not vol([(2023, 1.0), (2024, 2.0)])  # +100%, but one case against a target of 12
    assert vol([(2023, 0.0), (2024, 1.0)], target=0)  # "should be none": any rise counts
    assert volatile(0, 5, 1, target=12, volatility=0.2) == float("inf")
    assert volatile(10, 11, 1, target=12, volatility=0.2) is None


async def test_volatility_in_the_subtree_warnings(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        await plans_with(c, {})
        for year, num in [(2021, 10), (2024, 13)]:  # 10 → 13 /10万 over three years
            await file(c, "150603", year, {MMR: (num, 100_000)}, at(year + 1, 3, 1))
        async with c.rt("150600").sessions() as s:
            ws = await service.early_warnings(session=s, code="150600", kind="women",
                                              volatility=0.2)
        assert not [w for w in ws if w["scope"] == "150603" and w["kind"] == "volatile"]
        await file(c, "150603", 2025, {MMR: (20, 100_000)}, at(2026, 3, 1))  # +54% in a year
        async with c.rt("150600").sessions() as s:
            ws = await service.early_warnings(session=s, code="150600", kind="women",
                                              volatility=0.2)
        (w,) = [w for w in ws if w["scope"] == "150603" and w["kind"] == "volatile"]
        assert "2024→2025" in w["detail"]


# ---- 2, 7, 8. due dates and the audit ------------------------------------------------------

async def test_audit_counts_what_was_due_under_the_county_framework(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        # the city's framework sets reports due on 02-29; 150602 reports under its own 06-30
        await plans_with(c, {"150600": "02-29", "150603": "02-29", "150602": "06-30"})
        for code in ("150600", "150603", "150602"):
            rt = c.rt(code)
            async with transaction(rt.sessions) as s:
                pid = f"{code}-women"
                for step in ("consultation", "expert_review", "submit"):
                    await plans.advance(session=s, plan_id=pid, step=step, actor="e")
                await plans.advance(session=s, plan_id=pid, step="approve", actor="d")
                await plans.publish(session=s, rt=rt, plan_id=pid, released_on=date(2024, 1, 2),
                                    actor="d", is_admin=True, override_reason="test")
            await c.settle()
        await enrolled_in(c, 2022)
        await enrolled_in(c, 2026, ["150602"])  # 东胜区 joined in 2026
        # 2024's report under "02-29": due 2025-02-28 (a common year) — no crash, on time
        await file(c, "150603", 2024, {MMR: (2, 10_000)}, at(2025, 2, 28, 20))
        # 2023's report, returned and never refiled: the clock keeps running
        await file(c, "150603", 2023, {MMR: (2, 10_000)}, at(2024, 2, 29, 9))
        city = c.rt("150600")
        async with transaction(city.sessions) as s:
            rep = await s.scalar(select(ReceivedReport).where(ReceivedReport.year == 2023))
            assert rep is not None and rep.due_on == date(2024, 2, 29)
            await filings.return_filing(session=s, rt=city, filing_id=rep.id,
                                        reasons="请核实", actor="reviewer")
        await c.settle()
        async with c.rt("150000").sessions() as s:
            led = {(e.filer, e.year): e for e in (await s.scalars(select(LedgerEntry))).all()}
            assert led[("150603", 2024)].due_on == date(2025, 2, 28)
            rep = await timeliness(session=s, self_code="150000", today=date(2026, 5, 1),
                                   report_years=range(2021, 2026),
                                   kinds={"women": "03-31"})
        rows = {(r["code"], r["filing"]): r for r in rep["rows"]}
        assert rows[("150603", "report.women.2024")]["status"] == "on_time"
        returned = rows[("150603", "report.women.2023")]
        assert returned["status"] == "returned"
        assert returned["late_days"] == (date(2026, 5, 1) - date(2024, 2, 29)).days
        # 2025's report of 150603 is overdue by its own framework's day (2026-02-28)
        assert rows[("150603", "report.women.2025")]["due_on"] == "2026-02-28"
        assert rows[("150603", "report.women.2025")]["status"] == "overdue"
        # 150602 joined in June 2026: no report due before then was owed by it
        assert not [k for k in rows if k[0] == "150602" and k[1].startswith("report")]
        # enrolled in June 2022: the 2021 report (due 2022-02-28) was not owed by the city
        assert not [k for k in rows if k == ("150600", "report.women.2021")]
        assert ("150600", "report.women.2022") in rows
        # before 150602 reports, the province knows the framework it reports under only as
        # far as its city's plan (filed here): due 02-29 → 2027-02-28, not the province's 03-31
        async with c.rt("150000").sessions() as s:
            rep = await timeliness(session=s, self_code="150000", today=date(2027, 1, 5),
                                   report_years=range(2026, 2027), kinds={"women": "03-31"})
        rows = {(r["code"], r["filing"]): r for r in rep["rows"]}
        assert rows[("150602", "report.women.2026")]["due_on"] == "2027-02-28"
        # the city receives 150602's report by 150602's own plan (06-30): on time on June 1st,
        # and the province judges it by that due date, carried by the ledger
        await file(c, "150602", 2026, {MMR: (1, 10_000)}, at(2027, 6, 1))
        async with city.sessions() as s:
            got = await s.scalar(select(ReceivedReport).where(
                ReceivedReport.filer == "150602", ReceivedReport.year == 2026))
        assert got is not None and got.due_on == date(2027, 6, 30) and got.late_days == 0
        async with c.rt("150000").sessions() as s:
            rep = await timeliness(session=s, self_code="150000", today=date(2027, 7, 5),
                                   report_years=range(2026, 2027), kinds={"women": "03-31"})
        rows = {(r["code"], r["filing"]): r for r in rep["rows"]}
        assert rows[("150602", "report.women.2026")]["due_on"] == "2027-06-30"
        assert rows[("150602", "report.women.2026")]["status"] == "on_time"


def test_documents_are_kinds() -> None:  # the plan documents used above are valid
    assert PlanDocument(annual_report_due="02-29").annual_report_due == "02-29"
