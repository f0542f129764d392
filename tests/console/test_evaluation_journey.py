"""The mid-term evaluation (中期评估) through the console: a member unit submits its
self-evaluation, the county office sees the proposed categories and changes one with a
reason, the director files it, the city sees it among its children's evaluations (counted by
category) and returns it; the county sees it returned."""

from __future__ import annotations

import re
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.console.conftest import Cluster, Console, Office, hook, message
from tests.evaluations.test_evaluations import COUNTY_DATA, HIV, MMR, document

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

COUNTY, CITY = "150603", "150600"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def offices(cluster: Cluster) -> Cluster:
    county, city = cluster[COUNTY], cluster[CITY]
    doc: dict[str, Any] = document().dump()
    for office in (county, city):  # a draft plan is enough to evaluate against
        await office.call("POST", "/api/v1/plans/import", json={
            "kind": "women", "title": f"{office.name}妇女规划", "document": doc})
    for ind, years in COUNTY_DATA.items():
        for y, (num, den) in years.items():
            await county.call("PUT", f"/api/v1/reports/women/{y}/values/{ind}",
                              json={"numerator": num, "denominator": den})
    await county.add_user("weijianwei", "member_unit", unit="卫健委")
    await county.add_user("bangong", "editor")
    await county.add_user("zhuren", "reviewer")
    await city.add_user("shenhe", "reviewer")
    await city.add_user("ducha", "auditor")
    return cluster


async def choose(page: Page, select: Any, label: str) -> None:
    await select.click()
    await page.locator(".el-select-dropdown__item:visible").filter(
        has_text=re.compile(f"^{re.escape(label)}$")).click()


async def test_evaluate_self_evaluate_file_and_return(offices: Cluster,
                                                      console: Console) -> None:
    county: Office = offices[COUNTY]
    city: Office = offices[CITY]
    path = "/evaluation/women/2025"

    # -- the member unit: only its own indicators, its self-evaluation ---------------------
    member = await console.open(county, "weijianwei", path=path)
    card = member.locator(hook("self-card"))
    await expect(card).to_contain_text("本单位自评（卫健委）")
    await expect(member.locator(hook("self-category"))).to_have_count(3)  # the health ones
    await expect(card).not_to_contain_text("W-ECON-01")
    await member.locator(f'{hook("self-text")}[data-code="{MMR}"]').fill("已提前达标")
    await member.locator(hook("self-submit")).click()
    await expect(message(member, "自评已提交")).to_be_visible()

    # -- the office: proposed categories as words, one changed with a reason ---------------
    office = await console.open(county, "bangong", path=path)
    await expect(office.locator(hook("evaluation-due"))).to_have_text("截止日期 2026-06-30")
    mmr = office.locator(f'{hook("evaluation-category")}[data-code="{MMR}"]')
    await expect(mmr).to_have_text("提前达标")
    await expect(office.locator(f'{hook("evaluation-category")}[data-code="{HIV}"]')) \
        .to_have_text("达标困难")
    await expect(office.locator(f'{hook("evaluation-self")}[data-code="{MMR}"]')) \
        .to_contain_text("卫健委：提前达标（已提前达标）")
    done = office.locator(f'{hook("evaluation-unit")}[data-unit="卫健委"]')
    await expect(done).to_contain_text("已完成")
    await expect(office.locator(f'{hook("evaluation-unit")}[data-unit="人社局"]')) \
        .to_contain_text("未完成")
    await office.locator(f'{hook("evaluation-adjust")}[data-code="{HIV}"]').click()
    await choose(office, office.locator(hook("adjust-category")), "未达标")
    save = office.locator(hook("adjust-save"))
    await expect(save).to_be_disabled()  # no reason, no change
    await office.locator(f'{hook("adjust-reason")}').fill("2025年目标未完成")
    await save.click()
    await expect(message(office, "已保存")).to_be_visible()
    await expect(office.locator(f'{hook("evaluation-category")}[data-code="{HIV}"]')) \
        .to_have_text("未达标")
    await expect(office.locator(f'{hook("evaluation-reason")}[data-code="{HIV}"]')) \
        .to_have_text("2025年目标未完成")
    await expect(office.locator(hook("evaluation-file"))).to_have_count(0)  # the director's
    link = office.locator(hook("evaluation-document"))
    await expect(link).to_have_attribute("href", "/api/v1/evaluations/women/2025/document")

    # -- the director files it upward ----------------------------------------------------------
    director = await console.open(county, "zhuren", path=path)
    await director.locator(hook("evaluation-file")).click()
    await director.locator(".el-message-box__btns .el-button--primary").click()
    await expect(director.locator(hook("evaluation-status"))).to_have_text("已报送")
    await city.wait_for("the county's evaluation", "/api/v1/evaluations/received",
                        lambda rs: any(r["filer"] == COUNTY for r in rs))

    # -- the city: its children's evaluations, counted; it returns the county's ----------------
    reviewer = await console.open(city, "shenhe", path=path)
    count = reviewer.locator(
        f'{hook("evaluation-count")}[data-code="{HIV}"][data-category="missed"]')
    await expect(count).to_have_text("1")
    await expect(reviewer.locator(hook("evaluation-missing"))).to_contain_text("150602")
    row = reviewer.locator(f'{hook("received-row")}[data-filer="{COUNTY}"]')
    await expect(row).to_have_attribute("data-outcome", "accepted")
    await reviewer.locator(f'{hook("received-return")}[data-filer="{COUNTY}"]').click()
    await reviewer.locator(f'{hook("received-return-reason")}').fill("请补充原因分析")
    await reviewer.locator(hook("received-return-confirm")).click()
    await expect(message(reviewer, "已退回")).to_be_visible()
    await expect(row).to_have_attribute("data-outcome", "returned")

    # -- the city's auditor: the evaluations' timeliness, the county's returned --------------
    auditor = await console.open(city, "ducha", path=path)
    status = auditor.locator(f'{hook("evaluation-audit-status")}[data-code="{COUNTY}"]')
    await expect(status).to_have_text("已退回")
    await expect(auditor.locator(hook("evaluation-audit"))).to_contain_text("妇女规划中期评估报告")
    # a county of the real tree that never enrolled: 未接入 once past June 30 of 2026
    await expect(auditor.locator(f'{hook("evaluation-audit-row")}[data-code="150621"]')) \
        .to_have_attribute("data-status", re.compile("not_enrolled|pending"))

    # -- the county sees it returned, editable again -------------------------------------------
    await county.wait_for("the return", "/api/v1/evaluations/women/2025",
                          lambda e: e["status"] == "returned")
    await director.reload()
    await expect(director.locator(hook("evaluation-status"))).to_have_text("已退回")
    await expect(director.locator(hook("evaluation-file"))).to_be_visible()
