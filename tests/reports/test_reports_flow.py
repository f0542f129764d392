"""Annual reports up the tree, aggregation with drill-down, warnings, and the timeliness audit
(on time, late by 1 and 40 days, overdue, returned then refiled; complete while the city is
offline)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from node.audit.timeliness import timeliness
from node.auth.service import create_user
from node.db import transaction
from node.errors import Forbidden
from node.filings import service as filings
from node.models import ReceivedReport
from node.plans import service as plans
from node.plans.sheets import load_file
from node.reports import service
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

SH = ZoneInfo("Asia/Shanghai")
TREE = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000"),
        ("150603", "康巴什区", "county", "150600"), ("150602", "东胜区", "county", "150600"),
        ("150621", "达拉特旗", "county", "150600"), ("150622", "准格尔旗", "county", "150600")]
COUNTIES = ["150602", "150603", "150621", "150622"]
ADMIN: Any = None


def admin() -> Any:
    from node.models import User

    return User(name="office", role="admin", unit=None)


async def setup_plans(c: Cluster, enrolled: int = 2021) -> None:
    """Both plans at every node; the offices count as enrolled since ``enrolled`` (the audit
    expects reports from the enrolment year on)."""
    from sqlalchemy import update

    from node.models import KnownNode

    for code in c.apps:
        async with transaction(c.rt(code).sessions) as s:
            await s.execute(update(KnownNode).where(KnownNode.enrolled_at.is_not(None))
                            .values(enrolled_at=datetime(enrolled, 1, 5, tzinfo=SH)))
    for code in c.apps:
        rt = c.rt(code)
        async with transaction(rt.sessions) as s:
            for kind in ("women", "children"):
                await plans.create_plan(session=s, code=code, kind=kind, title="t",
                                        document=load_file(SAMPLE, kind), actor="t")  # type: ignore[arg-type]


async def file(c: Cluster, code: str, kind: str, year: int, values: dict[str, tuple],  # type: ignore[type-arg]
               at: datetime | None = None) -> None:
    rt = c.rt(code)
    async with transaction(rt.sessions) as s:
        for ind, v in values.items():
            num, den = v if len(v) == 2 else (None, None)
            await service.enter_value(session=s, code=code, kind=kind, year=year, indicator=ind,
                                      user=admin(), numerator=num, denominator=den,
                                      value=v[0] if len(v) == 1 else None)
        await service.set_next_year(session=s, code=code, kind=kind, year=year,
                                    text="继续推进", actor="t")
        await service.file_report(session=s, rt=rt, kind=kind, year=year, actor="t")
    parent = c.rt(c.cfgs[code].parent_url.split("//n")[1].split(".")[0])  # type: ignore[union-attr]
    if at is not None:
        parent.clock = lambda: at
    await c.settle()


def at(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


async def test_reports_aggregation_and_timeliness_audit(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        await setup_plans(c)
        mmr = "W-HEALTH-01"  # 孕产妇死亡率, ratio per 100,000
        await file(c, "150603", "women", 2025, {mmr: (2, 10_000)}, at(2026, 3, 31, 23, 59))
        await file(c, "150602", "women", 2025, {mmr: (1, 40_000)}, at(2026, 4, 1, 0, 1))
        await file(c, "150621", "women", 2025, {mmr: (0, 5_000)}, at(2026, 5, 10))
        # 150622 never files its women's report: overdue
        # children's report of 150603: on time, returned, refiled five days late
        cmr = "C-HEALTH-01"
        await file(c, "150603", "children", 2025, {cmr: (3, 1_000)}, at(2026, 3, 20))
        city = c.rt("150600")
        async with transaction(city.sessions) as s:
            first = await s.scalar(select(ReceivedReport).where(
                ReceivedReport.filer == "150603", ReceivedReport.kind == "children"))
            assert first is not None
            await filings.return_filing(session=s, rt=city, filing_id=first.id,
                                        reasons="分母口径有误，请按活产数填报", actor="reviewer")
        await c.settle()
        county = c.rt("150603")
        async with county.sessions() as s:
            rep = await service.get_report(s, "150603", "children", 2025)
        assert rep.status == "returned"
        await file(c, "150603", "children", 2025, {cmr: (6, 1_200)}, at(2026, 4, 5))  # 5‰ > 3‰

        # the city aggregates: ratio of sums, coverage, the missing county named
        async with city.sessions() as s:
            figs = {f.code: f for f in await service.figures(session=s, code="150600",
                                                             kind="women", year=2025)}
        f = figs[mmr]
        assert (f.numerator, f.denominator) == (3, 55_000)
        assert f.value == pytest.approx(3 / 55_000 * 100_000)
        assert "150622" in f.missing and f.coverage == "3/9"  # of all nine counties
        # it compiles and files its own report; the province aggregates the city and drills down
        async with transaction(city.sessions) as s:
            _, n = await service.compile_report(session=s, code="150600", kind="women",
                                                year=2025, actor="office")
        assert n >= 1
        await file(c, "150600", "women", 2025, {}, at(2026, 4, 20))
        prov = c.rt("150000")
        async with prov.sessions() as s:
            top = {x.code: x for x in await service.figures(session=s, code="150000",
                                                            kind="women", year=2025)}
            drill = {x.code: x for x in await service.figures(
                session=s, code="150000", kind="women", year=2025, under="150600")}
        assert top[mmr].value == pytest.approx(f.value) and top[mmr].coverage == "1/12"
        assert drill[mmr].children["150603"] == pytest.approx(20.0)
        assert drill[mmr].coverage == "3/9"

        # the province audits the counties from its ledger, with the city offline
        c.transport.offline.add("n150600.test")
        async with prov.sessions() as s:
            rep = await timeliness(session=s, self_code="150000", year=2025,
                                   today=date(2026, 11, 22))
        rows = {(r["code"], r["filing"]): r for r in rep["rows"]}
        assert rows[("150603", "report.women.2025")]["status"] == "on_time"
        assert rows[("150602", "report.women.2025")]["status"] == "late"
        assert rows[("150602", "report.women.2025")]["late_days"] == 1
        assert rows[("150621", "report.women.2025")]["late_days"] == 40
        assert rows[("150622", "report.women.2025")]["status"] == "overdue"
        refiled = rows[("150603", "report.children.2025")]
        assert (refiled["status"], refiled["late_days"]) == ("late", 5)
        assert refiled["receiver"] == "150600"
        assert rows[("150600", "report.women.2025")]["status"] == "late"
        levels = {r["group"]: r for r in rep["by_level"]}
        county = levels["county"]
        # 8 filings of the four enrolled counties, plus those of every county of the real
        # tree that never enrolled (未接入, counted as due: the rates are honest)
        n = county["not_enrolled"]
        assert n > 0 and county["due"] == 8 + n and county["on_time"] == 1
        assert county["on_time_rate"] == pytest.approx(round(1 / (8 + n), 4))
        assert county["reporting_rate"] == pytest.approx(round(4 / (8 + n), 4))  # 3 + 1
        for r in rep["by_node"] + rep["by_level"]:
            assert r["on_time_rate"] is None or 0 <= r["on_time_rate"] <= 1
            assert r["reporting_rate"] is None or 0 <= r["reporting_rate"] <= 1
        # the province's audit of one city's subtree only, and before the due date: pending
        async with prov.sessions() as s:
            early = await timeliness(session=s, self_code="150000", subtree="150600",
                                     year=2026, today=date(2026, 11, 22))
        assert {r["status"] for r in early["rows"]} == {"pending"}
        assert all(r["on_time_rate"] is None for r in early["by_node"])

        # warnings for the subtree: 150603's children's indicator is far off target
        async with city.sessions() as s:
            ws = await service.early_warnings(session=s, code="150600", kind="children",
                                              volatility=0.2)
        assert any(w["scope"] == "150603" and w["kind"] == "off_target" for w in ws)


async def test_member_unit_enters_only_its_own_parts(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE[:1]) as c:
        rt = c.rt("150000")
        doc = load_file(SAMPLE, "women")
        lead = doc.indicators[0].model_copy(update={"lead_unit": "卫健委",
                                                    "responsible_units": ["医保局"]})
        doc = doc.model_copy(update={"indicators": [lead, *doc.indicators[1:]]})
        async with transaction(rt.sessions) as s:
            await plans.create_plan(session=s, code="150000", kind="women", title="t",
                                    document=doc, actor="t")
            health = await create_user(session=s, name="wjw", role="member_unit",
                                       password=None, actor="t", unit="卫健委")
            edu = await create_user(session=s, name="jyj", role="member_unit", password=None,
                                    actor="t", unit="教育局")
            await service.enter_value(session=s, code="150000", kind="women", year=2024,
                                      indicator=lead.code, user=health, numerator=1,
                                      denominator=9_000)
            with pytest.raises(Forbidden, match="教育局"):
                await service.enter_value(session=s, code="150000", kind="women", year=2024,
                                          indicator=lead.code, user=edu, value=9.0)
            from node.errors import BadRequest

            with pytest.raises(BadRequest, match="ratio"):
                await service.enter_value(session=s, code="150000", kind="women", year=2024,
                                          indicator=lead.code, user=health, numerator=1)
            with pytest.raises(BadRequest, match="greater than 0"):
                await service.enter_value(session=s, code="150000", kind="women", year=2024,
                                          indicator=lead.code, user=health, numerator=1,
                                          denominator=0)


async def test_audit_and_aggregate_exports_have_chinese_headers(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from node.auth.service import issue_token

    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        await setup_plans(c)
        await file(c, "150603", "women", 2025, {"W-HEALTH-01": (1, 9_000)},
                   at(2026, 3, 1))
        rt = c.rt("150600")
        async with transaction(rt.sessions) as s:
            aud = await create_user(session=s, name="aud", role="auditor", password=None,
                                    actor="t")
            view = await create_user(session=s, name="v", role="viewer", password=None,
                                     actor="t")
            ta = await issue_token(session=s, user=aud, label="t", actor="t")
            tv = await issue_token(session=s, user=view, label="t", actor="t")
        async with c.client("150600", ta) as cl:
            r = await cl.get("/api/v1/audit/timeliness?year=2025&format=csv")
            assert r.status_code == 200
            lines = r.text.lstrip("\ufeff").splitlines()
            assert lines[0].startswith("单位代码,单位名称,层级")
            assert any(line.startswith("150603,康巴什区,county") and ",on_time," in line
                       for line in lines)
            r = await cl.get("/api/v1/audit/timeliness?format=xlsx")
            wb = load_workbook(BytesIO(r.content))
            assert wb.sheetnames == ["报送明细", "按单位", "按层级"]
            r = await cl.get("/api/v1/aggregates/women/2025?format=xlsx")
            ws = load_workbook(BytesIO(r.content))["汇总"]
            assert [c.value for c in ws[1]][:4] == ["指标编码", "指标名称", "单位", "汇总方式"]
        async with c.client("150600", tv) as cl:
            assert (await cl.get("/api/v1/audit/timeliness")).status_code == 403
