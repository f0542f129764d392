"""The annual report through the console: a member unit enters the values of its indicators
(numerator and denominator for ratio ones), the county's director files the report, the city
sees it among 下级报送 — with the timeliness words the people there read (按时 / 逾期)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.console.conftest import (
    Cluster,
    Console,
    Office,
    beijing,
    beijing_today,
    field_of,
    hook,
    message,
    report_year,
)
from tests.paths import SAMPLE

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

COUNTY, LATE_COUNTY, CITY = "150602", "150603", "150600"


def county_doc() -> dict[str, Any]:
    """The sample women's indicators; the health ones led by 卫健委, plus a count (sum)."""
    sample = json.loads(SAMPLE.read_text("utf-8"))
    inds = [i for i in sample["indicators"] if i["plan"] == "women"]
    for i in inds:
        if i["area"] == "妇女与健康":
            i["lead_unit"] = "卫健委"
    inds.append({"area": "妇女与健康", "code": "W-HEALTH-09", "name": "孕产妇系统管理人数",
                 "comparator": ">=", "target": 5000, "unit": "人",
                 "direction": "higher_is_better", "aggregation": "sum", "lead_unit": "卫健委"})
    return {"areas": [{"name": a} for a in sample["areas"]["women"]], "indicators": inds,
            "annual_report_due": "12-31"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def offices(cluster: Cluster) -> Cluster:
    county, late, city = cluster[COUNTY], cluster[LATE_COUNTY], cluster[CITY]
    today = beijing_today().date()
    # set-up through the API: both counties' plans published and filed with the city; 康巴什区
    # released 45 days ago, so its filing (due a month after release) is late
    await county.publish(county_doc(), today.isoformat())
    await late.publish(county_doc(), (today - timedelta(days=45)).isoformat())
    await city.wait_for("both counties' filings", "/api/v1/filings",
                        lambda fs: {f["filer"] for f in fs} == {COUNTY, LATE_COUNTY})
    await county.add_user("weijianwei", "member_unit", unit="卫健委")
    await county.add_user("zhuren", "reviewer")
    await city.add_user("shenhe", "reviewer")
    return cluster


async def enter(page: Page, code: str, **values: float) -> Any:
    """Type into the hooked number fields of one indicator's row; return the row."""
    row = page.locator(f"{hook('values-table')} tr.el-table__row").filter(
        has=page.locator(f'{hook("value-row")}[data-code="{code}"]'))
    for name, v in values.items():
        box = field_of(row, f"value-{name}")
        await box.fill(str(v))
        await box.press("Tab")  # an el-input-number takes the value on change
    return row


async def test_member_unit_enters_values_and_the_county_files(offices: Cluster,
                                                              console: Console) -> None:
    county: Office = offices[COUNTY]
    city: Office = offices[CITY]
    year = report_year()

    # -- the member unit's 工作台: its four indicators are waiting --------------------------
    member = await console.open(county, "weijianwei")
    waiting = member.locator(hook("todo-row")).filter(
        has_text=f"卫健委：{year} 年 4 项妇女指标未填报")
    await expect(waiting).to_be_visible()
    await expect(waiting).to_contain_text(f"截止 {year + 1}-12-31")
    await waiting.locator(hook("todo-link")).click()
    await expect(member).to_have_url(f"{county.url}/reports/women/{year}")
    await expect(member.get_by_text("仅显示本单位（卫健委）牵头或负责的指标。")).to_be_visible()
    rows = member.locator(hook("value-row"))
    await expect(rows).to_have_count(4)  # only 卫健委's: not the economy area's indicators
    await expect(member.locator(hook("values-table"))).not_to_contain_text("W-ECON-01")

    # -- a ratio in %: numerator and denominator, the rate computed as typed ------------------
    row = await enter(member, "W-HEALTH-02", numerator=1234, denominator=1500)
    await expect(row.locator(hook("value-shown"))).to_have_text("82.27%")
    await row.locator(hook("value-save")).click()
    await expect(message(member, "已保存")).to_be_visible()
    # a ratio per 100 000
    row = await enter(member, "W-HEALTH-01", numerator=3, denominator=25000)
    await expect(row.locator(hook("value-shown"))).to_have_text("12 1/10万")
    await row.locator(hook("value-save")).click()
    await expect(row.locator(hook("value-save"))).to_be_disabled()
    # a count: one value
    row = await enter(member, "W-HEALTH-09", input=5230)
    await expect(row.locator(hook("value-shown"))).to_have_text("5,230 人")
    await row.locator(hook("value-save")).click()
    await expect(row.locator(hook("value-save"))).to_be_disabled()
    # what the server kept, as the page shows it after a reload
    await member.reload()
    shown = member.locator(f'{hook("value-row")}[data-code="W-HEALTH-02"]')
    await expect(shown).to_be_visible()
    saved = member.locator(f"{hook('values-table')} tr.el-table__row").filter(has=shown)
    await expect(saved.locator(hook("value-shown"))).to_have_text("82.27%")
    report = await county.call("GET", f"/api/v1/reports/women/{year}")
    by_code = {v["code"]: v for v in report["values"]}
    assert (by_code["W-HEALTH-02"]["numerator"], by_code["W-HEALTH-02"]["denominator"]) == \
        (1234, 1500)
    # a member unit may not file
    await expect(member.locator(hook("report-file"))).to_have_count(0)
    await member.locator(hook("menu-todo")).click()
    # W-HEALTH-03 was left empty: the 工作台 counts what is still missing
    await expect(member.locator(hook("todo-row")).filter(has_text=f"卫健委：{year} 年")) \
        .to_contain_text(f"卫健委：{year} 年 1 项妇女指标未填报")

    # -- the director files the report ------------------------------------------------------
    director = await console.open(county, "zhuren", path=f"/reports/women/{year}")
    await expect(director.locator(hook("report-status"))).to_have_text("填报中")
    await director.locator(hook("report-file")).click()
    await director.locator(".el-message-box__btns .el-button--primary").click()
    await expect(message(director, "已报送")).to_be_visible()
    # (the old tag fades out while the new one fades in: find the new one by its words)
    await expect(director.locator(hook("report-status")).filter(has_text="已报送")) \
        .to_be_visible()
    await expect(director.get_by_text("报告已报送，不能修改。")).to_be_visible()
    await expect(director.locator(hook("report-file"))).to_have_count(0)
    await director.locator(hook("menu-filingsSent")).click()
    sent = director.locator(f"{hook('sent-reports-table')} tr.el-table__row").filter(
        has_text=str(year))
    await expect(sent).to_contain_text("已报送")

    # -- the city: 下级报送 lists the report, on time; and the two plan filings ----------------
    received = await city.wait_for("the county's report", "/api/v1/reports/received",
                                   lambda rs: any(r["filer"] == COUNTY for r in rs))
    reviewer = await console.open(city, "shenhe")
    news = reviewer.locator(hook("todo-row")).filter(has_text=f"东胜区 报送了 {year} 年度妇女报告")
    await expect(news).to_be_visible()
    await reviewer.locator(hook("menu-filingsChildren")).click()
    plans = reviewer.locator(f"{hook('child-filings-table')} tr.el-table__row")
    on_time = plans.filter(has=reviewer.locator(f'{hook("filing-row")}[data-filer="{COUNTY}"]'))
    late = plans.filter(has=reviewer.locator(f'{hook("filing-row")}[data-filer="{LATE_COUNTY}"]'))
    await expect(on_time.locator(hook("filing-timeliness"))).to_have_text("按时")
    filings = {f["filer"]: f for f in await city.call("GET", "/api/v1/filings")}
    late_days = filings[LATE_COUNTY]["late_days"]
    assert late_days > 0
    await expect(late.locator(hook("filing-timeliness"))).to_have_text(f"逾期 {late_days} 天")
    await expect(late).to_contain_text("康巴什区")
    await expect(late).to_contain_text(beijing(filings[LATE_COUNTY]["received_at"]))

    await reviewer.get_by_role("tab", name="下级年度报告").click()
    rep = reviewer.locator(f"{hook('child-reports-table')} tr.el-table__row").filter(
        has=reviewer.locator(f'{hook("report-row")}[data-filer="{COUNTY}"]'))
    await expect(rep).to_contain_text("东胜区")
    await expect(rep).to_contain_text(str(year))
    await expect(rep).to_contain_text("妇女")
    await expect(rep).to_contain_text("按时")
    await expect(rep).to_contain_text("已接收")
    at = next(r for r in received if r["filer"] == COUNTY)["received_at"]
    await expect(rep).to_contain_text(beijing(at))
    await expect(rep.locator(hook("report-return"))).to_be_visible()  # a reviewer may return it
