"""The whole country as one tree (issue #14), end to end over real `plansync serve` processes
on loopback ports: 国务院妇儿工委 000000 → 内蒙古自治区 → 鄂尔多斯市 → 康巴什区, on SQLite and on
PostgreSQL. The national framework reaches the county; the county's plan filing and annual
report, with the ledger entries of their receipts, reach the national node; the province's
compiled report is aggregated across provinces; the national audit counts the 34
provincial-level units of the division tree, the ones never enrolled 未接入."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from node.divisions import NATIONAL, division_children
from node.lab.harness import ProcessCluster, pick
from tests import services
from tests.lab.test_faults import FAST, Driver, women_doc

pytestmark = pytest.mark.timeout(400)
MMR = "W-HEALTH-01"
CODES = [NATIONAL, "150000", "150600", "150603"]


def doc() -> dict[str, Any]:
    """The sample women's framework, 卫健委 leading every indicator (it enters the values)."""
    d = women_doc()
    return {**d, "indicators": [dict(i, lead_unit="卫健委") for i in d["indicators"]]}


async def _journey(tmp_path: Path, pg_admin: str | None) -> None:
    assert pick("150603", national=True) == CODES  # the lab's national root option
    c = await ProcessCluster.create(tmp_path / "c", CODES, env=FAST, pg_admin=pg_admin)
    try:
        assert c.members["150000"].parent == NATIONAL  # a province under the national node
        await c.start_all()
        await c.enrol_all()
        d = Driver(c)
        ident = await d.call(NATIONAL, "GET", "/sync/v1/identity")
        assert ident["code"] == NATIONAL and ident["level"] == "national"
        kids = await d.call(NATIONAL, "GET", "/api/v1/oversight/offices")
        assert any(o["code"] == "150600" for o in kids)  # announced by the province

        # a framework released at the national node reaches the county
        today = date.today()
        await d.publish(NATIONAL, doc(), (today - timedelta(days=90)).isoformat())

        async def framework_at(code: str) -> bool:
            return any(f["origin"] == NATIONAL
                       for f in await d.call(code, "GET", "/api/v1/frameworks"))

        for code in CODES[1:]:
            await c.wait_for(f"the national framework at {code}",
                             lambda code=code: framework_at(code))
        # each office below builds on it and files with its parent (the province: with 000000)
        for code, days in (("150000", 60), ("150600", 30), ("150603", 10)):
            await d.publish(code, doc(), (today - timedelta(days=days)).isoformat())

        # the county's annual report 2025, filed up; the city and province compile and file
        unit = await d.call("150603", "POST", "/api/v1/users",
                            json={"name": "wjw", "role": "member_unit", "unit": "卫健委"})
        await d.call("150603", "PUT", f"/api/v1/reports/women/2025/values/{MMR}",
                     unit["token"], json={"numerator": 1, "denominator": 10_000})
        await d.call("150603", "POST", "/api/v1/reports/women/2025/file",
                     await d.director("150603"))

        async def received(code: str, filer: str) -> bool:
            return any(r["filer"] == filer
                       for r in await d.call(code, "GET", "/api/v1/reports/received"))

        await c.wait_for("the county's report at the city", lambda: received("150600", "150603"))
        for code, parent in (("150600", "150000"), ("150000", NATIONAL)):
            await d.call(code, "POST", "/api/v1/reports/women/2025/compile")
            await d.call(code, "POST", "/api/v1/reports/women/2025/file",
                         await d.director(code))
            await c.wait_for(f"{code}'s report at {parent}",
                             lambda code=code, parent=parent: received(parent, code))

        async def audit() -> dict[tuple[str, str], dict[str, Any]]:
            rep = await d.call(NATIONAL, "GET", "/api/v1/audit/timeliness?from_year=2025")
            return {(r["code"], r["filing"]): r for r in rep["rows"]}

        async def ledger_complete() -> bool:
            rows = await audit()
            return all(rows[(code, f)]["received_at"] for code in CODES[1:]
                       for f in ("plan.women", "report.women.2025"))

        # the ledger entries of the city's and the province's receipts reach the national node
        await c.wait_for("every filing in the national ledger", ledger_complete)
        rows = await audit()
        assert rows[("150603", "plan.women")]["receiver"] == "150600"
        assert rows[("150600", "plan.women")]["receiver"] == "150000"
        assert rows[("150000", "plan.women")]["receiver"] == NATIONAL
        assert rows[("150000", "plan.women")]["status"] == "late"  # released 60 days ago
        assert rows[("150603", "plan.women")]["status"] == "on_time"  # 10 days ago
        # the denominator: the 34 provincial-level units of the division tree
        provinces = {code for code, _ in rows if rows[(code, "plan.women")]["level"]
                     == "province"}
        assert provinces == set(division_children()[NATIONAL]) and len(provinces) == 34
        assert rows[("110000", "report.women.2025")]["status"] == "not_enrolled"  # 北京 未接入
        assert rows[("110000", "report.women.2025")]["parent"] == NATIONAL
        assert ("150100", "plan.women") in rows  # the province's other cities, expected too
        # the aggregate across provinces: one of 34 reported
        agg = {f["code"]: f for f in await d.call(NATIONAL, "GET",
                                                  "/api/v1/aggregates/women/2025")}
        assert agg[MMR]["coverage"] == "1/34"
        assert agg[MMR]["children"]["150000"] is not None
        assert agg[MMR]["children"]["110000"] is None
        over = await d.call(NATIONAL, "GET", "/api/v1/oversight/overview?year=2025")
        levels = {g["level"] for g in over["by_level"]}
        assert "province" in levels and "national" not in levels
    finally:
        c.stop_all()
        await c.drop_databases()


async def test_national_tree_over_real_processes_sqlite(tmp_path: Path) -> None:
    await _journey(tmp_path, None)


@pytest.mark.postgres
async def test_national_tree_over_real_processes_postgresql(tmp_path: Path) -> None:
    await services.create_pg_database()  # skips (or fails in CI) without PostgreSQL
    await _journey(tmp_path, services.PG_ADMIN)


def test_the_lab_picks_a_national_root() -> None:
    assert pick(NATIONAL, depth=1, limit_children=2) == [NATIONAL, "110000", "120000"]
    assert pick("150600", depth=0, national=True) == [NATIONAL, "150000", "150600"]
    assert pick("150600", depth=0) == ["150000", "150600"]  # without: the province is root


def test_demo_national_runs_the_whole_country_tree() -> None:
    import json

    from tests.procs import run_cli

    s = json.loads(run_cli("demo", "--national", "--json", timeout=400).stdout)
    assert [n["code"] for n in s["nodes"]][:2] == [NATIONAL, "150000"]
    assert s["nodes"][1]["parent"] == NATIONAL
    (agg,) = s["national_aggregate_2025"]
    assert agg["coverage"] == "1/34"  # the province's compiled report, of 34
    assert len(s["national_audit_provinces"]) == 34
    rows = {(r["code"], r["filing"]): r for r in s["audit"]["rows"]}  # the province's audit
    assert rows[("150603", "plan.women")]["status"] == "on_time"
