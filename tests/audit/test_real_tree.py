"""The real tree is the denominator (issue #14): coverage and the timeliness audit count the
offices the division tree puts below a node, enrolled or not (未接入), and a parent's deadline
for its children's plans makes a plan never filed overdue instead of pending forever."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from node.audit.timeliness import timeliness
from node.db import transaction
from node.divisions import NATIONAL, division, division_children
from node.plans import service as plans
from node.plans.dates import child_plan_due
from node.plans.sheets import load_file
from node.reports import service
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.reports.test_reports_domain import MMR, TREE, enrolled_in, file
from tests.reports.test_reports_flow import at


async def publish(c: Cluster, code: str, released: date, months: int | None) -> None:
    rt = c.rt(code)
    doc = load_file(SAMPLE, "women").model_copy(update={"child_plan_due_months": months})
    async with transaction(rt.sessions) as s:
        await plans.create_plan(session=s, code=code, kind="women", title="t", document=doc,
                                actor="t")
        pid = f"{code}-women"
        for step in ("consultation", "expert_review", "submit"):
            await plans.advance(session=s, plan_id=pid, step=step, actor="e")
        await plans.advance(session=s, plan_id=pid, step="approve", actor="d")
        await plans.publish(session=s, rt=rt, plan_id=pid, released_on=released, actor="d",
                            is_admin=True, override_reason="test")
    await c.settle()


def test_the_division_index_has_the_national_level() -> None:
    assert len(division_children()["150600"]) == 9  # 鄂尔多斯市: 9 counties
    assert "150000" in division_children()[NATIONAL] and len(division_children()[NATIONAL]) == 34
    nat = division(NATIONAL)
    assert nat is not None and nat.level == "national" and nat.name == "国务院妇儿工委"


async def test_coverage_is_of_the_real_tree_and_the_audit_lists_who_never_enrolled(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        for code in ("150000", "150600", "150603", "150602"):
            doc = load_file(SAMPLE, "women")
            async with transaction(c.rt(code).sessions) as s:
                await plans.create_plan(session=s, code=code, kind="women", title="t",
                                        document=doc, actor="t")
        await enrolled_in(c, 2021, month=1)
        await file(c, "150603", 2024, {MMR: (2, 10_000)}, at(2025, 3, 1, 9))
        nine = division_children()["150600"]
        async with c.rt("150600").sessions() as s:
            figs = {f.code: f for f in await service.figures(
                session=s, code="150600", kind="women", year=2024)}
        # one of nine counties reported: "1/9", the eight others missing (never zero)
        assert figs[MMR].coverage == "1/9"
        assert figs[MMR].missing == sorted(set(nine) - {"150603"})
        assert figs[MMR].children["150621"] is None
        async with c.rt("150000").sessions() as s:
            rep = await timeliness(session=s, self_code="150000", today=date(2026, 5, 1),
                                   report_years=range(2024, 2026), kinds={"women": "03-31"})
            drill = {f.code: f for f in await service.figures(
                session=s, code="150000", kind="women", year=2024, under="150600")}
        assert drill[MMR].coverage.endswith("/9")
        rows = {(r["code"], r["filing"]): r for r in rep["rows"]}
        # a county of the city that never enrolled: 未接入 once past due, pending before
        assert rows[("150621", "report.women.2024")]["status"] == "not_enrolled"
        assert rows[("150621", "report.women.2024")]["parent"] == "150600"
        # a city that never enrolled, and its counties (the whole expected tree)
        assert rows[("150100", "report.women.2025")]["status"] == "not_enrolled"
        assert rows[("150102", "report.women.2025")]["level"] == "county"
        # an enrolled county that did not file is overdue (超期未报), not 未接入
        assert rows[("150602", "report.women.2024")]["status"] == "overdue"
        assert rows[("150603", "report.women.2024")]["status"] in ("on_time", "late")
        expected = {c for c, _ in rows}
        assert set(division_children()["150000"]) <= expected
        by_level = {g["group"]: g for g in rep["by_level"]}
        county = by_level["county"]
        assert county["not_enrolled"] > 0 and county["due"] >= county["not_enrolled"]
        assert county["reporting_rate"] is not None and county["reporting_rate"] < 0.05
        for g in rep["by_level"] + rep["by_node"]:
            assert g["reporting_rate"] is None or 0 <= g["reporting_rate"] <= 1
        # a report year not due yet for anyone: pending, not counted in due
        early = await _audit(c, date(2025, 3, 1))
        assert early[("150621", "report.women.2024")]["status"] == "pending"


async def _audit(c: Cluster, today: date) -> dict[tuple[str, str], dict[str, object]]:
    async with c.rt("150000").sessions() as s:
        rep = await timeliness(session=s, self_code="150000", today=today,
                               report_years=range(2024, 2025), kinds={"women": "03-31"})
    return {(r["code"], r["filing"]): r for r in rep["rows"]}


async def test_a_parent_deadline_makes_a_plan_never_filed_overdue(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        await enrolled_in(c, 2021, month=1)
        before = await _audit(c, date(2024, 9, 1))
        assert before[("150600", "plan.women")]["status"] == "pending"  # no deadline set
        assert before[("150600", "plan.women")]["due_on"] is None
        # the province gives its children 3 months after its release (2024-01-31 → 04-30)
        await publish(c, "150000", date(2024, 1, 31), 3)
        rows = await _audit(c, date(2024, 9, 1))
        assert rows[("150600", "plan.women")]["due_on"] == "2024-04-30"
        assert rows[("150600", "plan.women")]["status"] == "overdue"
        assert rows[("150100", "plan.women")]["status"] == "not_enrolled"  # never enrolled
        assert (await _audit(c, date(2024, 4, 30)))[("150600", "plan.women")]["status"] == \
            "pending"
        # the city releases with 2 months for its counties and files with the province: the
        # province judges the counties by the city's deadline (crossing the nodes)
        await publish(c, "150600", date(2024, 5, 10), 2)
        rows = await _audit(c, date(2024, 9, 1))
        assert rows[("150600", "plan.women")]["status"] in ("late", "on_time")
        due = child_plan_due(date(2024, 5, 10), 2)
        assert rows[("150603", "plan.women")]["due_on"] == due.isoformat() == "2024-07-10"
        assert rows[("150603", "plan.women")]["status"] == "overdue"
        assert rows[("150621", "plan.women")]["status"] == "not_enrolled"
        # the city sees the same for its own counties
        async with c.rt("150600").sessions() as s:
            rep = await timeliness(session=s, self_code="150600", today=date(2024, 9, 1),
                                   report_years=range(0), kinds={"women": "03-31"})
        mine = {(r["code"], r["filing"]): r for r in rep["rows"]}
        assert mine[("150602", "plan.women")]["status"] == "overdue"
        assert len({r["code"] for r in rep["rows"]}) == 9
