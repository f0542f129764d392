"""Member units' yearly reports and the task table through the console: a member-unit user
submits its unit's report; the director sees it, returns another unit's with a reason; the
chase list shows the late units; the task table page shows the imported layout (seed 001)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from node.plans.tasks import write_xlsx
from tests.console.conftest import Cluster, Console, Office, field_of, hook, message, report_year
from tests.paths import SAMPLE
from tests.plans.test_tasks import SEED_ROWS, TITLE

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

COUNTY = "150602"


def county_doc() -> dict[str, Any]:
    sample = json.loads(SAMPLE.read_text("utf-8"))
    leads = {"妇女与健康": "卫健委", "妇女与经济": "人社局"}
    inds = [dict(i, lead_unit=leads.get(i["area"])) for i in sample["indicators"]
            if i["plan"] == "women"]
    return {"areas": [{"name": a} for a in sample["areas"]["women"]], "indicators": inds}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def office(cluster: Cluster) -> Office:
    county = cluster[COUNTY]
    await county.call("POST", "/api/v1/plans/import",
                      json={"kind": "women", "title": "东胜区妇女发展规划（2021—2030年）",
                            "document": county_doc()})
    await county.call("POST", f"/api/v1/plans/{COUNTY}-women/tasks/import", files={
        "file": ("tasks.xlsx", write_xlsx(TITLE, SEED_ROWS), "application/octet-stream")})
    await county.add_user("weijianwei", "member_unit", unit="卫健委")
    await county.add_user("renshe", "member_unit", unit="人社局")
    await county.add_user("zhuren", "reviewer")
    year = report_year()
    await county.call("PUT", f"/api/v1/unit-reports/women/{year}/units/人社局",
                      as_user="renshe",
                      json={"implementation": "就业促进", "next_year": "继续"})
    return county


async def test_member_unit_submits_director_returns_and_chases(office: Office,
                                                                console: Console) -> None:
    year = report_year()
    path = f"/unit-reports/women/{year}"
    status = await office.call("GET", f"/api/v1/unit-reports/women/{year}")
    due, late = status["due_on"], {u["unit"]: u for u in status["units"]}["卫健委"]
    assert late["late"]  # reports for last year were due this spring

    # -- the member unit: its own report only, submitted late ------------------------------
    member = await console.open(office, "weijianwei", path=path)
    await expect(member.locator(hook("unit-reports-due"))).to_have_text(f"截止日期 {due}")
    await expect(member.locator(hook("own-status"))).to_have_text("未提交")
    await expect(member.locator(hook("own-report"))).to_contain_text(
        f"超期 {late['overdue_days']} 天")
    await expect(member.locator(hook("unit-table"))).to_have_count(0)  # no other unit
    await field_of(member, "own-implementation").fill("开展妇女健康促进行动。")
    await field_of(member, "own-next-year").fill("继续实施妇女健康行动。")
    await member.locator(hook("own-submit")).click()
    await expect(message(member, "已提交")).to_be_visible()
    await expect(member.locator(hook("own-status")).filter(has_text="已提交")).to_be_visible()
    await expect(member.locator(hook("own-submit"))).to_have_count(0)

    # -- the director: every unit's status, returns 人社局's with a reason --------------------
    director = await console.open(office, "zhuren", path=path)
    wjw = director.locator(f'{hook("unit-status")}[data-unit="卫健委"]')
    await expect(wjw).to_have_text("已提交")
    await director.locator(f'{hook("unit-view")}[data-unit="卫健委"]').click()
    await expect(director.locator(hook("unit-view-implementation"))).to_contain_text(
        "开展妇女健康促进行动")
    await director.keyboard.press("Escape")
    chase = director.locator(hook("chase-row"))
    await expect(director.locator(f'{hook("chase-row")}[data-unit="市医保局"]')).to_be_visible()
    await expect(director.locator(f'{hook("chase-row")}[data-unit="卫健委"]')).to_have_count(0)
    await expect(director.locator(f'{hook("chase-row")}[data-unit="人社局"]')).to_have_count(0)
    before = await chase.count()
    await director.locator(f'{hook("unit-return")}[data-unit="人社局"]').click()
    await field_of(director, "unit-return-reason").fill("缺少就业数据来源")
    await director.locator(hook("unit-return-confirm")).click()
    await expect(message(director, "已退回")).to_be_visible()
    await expect(director.locator(f'{hook("unit-status")}[data-unit="人社局"]')) \
        .to_have_text("退回")
    returned = director.locator(f'{hook("chase-row")}[data-unit="人社局"]')
    await expect(returned).to_contain_text("退回")
    await expect(chase).to_have_count(before + 1)
    await expect(director.locator(hook("unit-table"))).to_contain_text("缺少就业数据来源")
    # the 工作台 chases the late units too
    await director.locator(hook("menu-todo")).click()
    await expect(director.locator(hook("todo-row")).filter(
        has_text=f"人社局：{year} 年度妇女成员单位报告被退回未重交")).to_be_visible()

    # -- the returned unit sees why ------------------------------------------------------------
    renshe = await console.open(office, "renshe", path=path)
    await expect(renshe.locator(hook("own-return-reason"))).to_contain_text("缺少就业数据来源")
    await expect(renshe.locator(hook("own-submit"))).to_be_visible()
    # its report page offers what the task table gives it: W-ECON-01 (W-ECON-02 is 市医保局's)
    await renshe.goto(f"/reports/women/{year}")
    await expect(renshe.locator(hook("value-row"))).to_have_count(1)
    await expect(renshe.locator(f'{hook("value-row")}[data-code="W-ECON-01"]')).to_be_visible()


async def test_task_table_page_shows_the_imported_layout(office: Office,
                                                         console: Console) -> None:
    page = await console.open(office, "zhuren", path="/tasks/women")
    await expect(page.locator(hook("tasks-title"))).to_have_text(
        "东胜区妇女发展规划（2021—2030年）分领域编制工作任务分解表")
    sections = page.locator(hook("tasks-section"))
    await expect(sections).to_have_count(5)  # 4 rows that are their own section, 1 of two rows
    econ = page.locator(f'{hook("tasks-section")}[data-section="妇女与经济"]')
    await expect(econ.locator(hook("tasks-row"))).to_have_count(2)
    await expect(econ).to_contain_text("提高妇女就业比例")
    await expect(econ).to_contain_text("市人社局")
    await expect(econ).to_contain_text("W-ECON-01")
    health = page.locator(f'{hook("tasks-section")}[data-section="妇女与健康"]')
    await expect(health.locator(hook("tasks-lead"))).to_have_text("市卫健委")
    await expect(health).to_contain_text("市发展改革委、市医保局、市妇联")
    # the export is the same XLSX layout (the node makes it)
    href = await page.locator(hook("tasks-export")).get_attribute("href")
    assert href == f"/api/v1/plans/{office.code}-women/tasks/export?format=xlsx"
