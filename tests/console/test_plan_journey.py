"""A county's women's plan through the console, person by person, at real nodes:

the county editor starts the plan from the framework the province released, a member unit
comments in the consultation round, the submitter is refused when approving their own plan,
the director approves and publishes (which files it with the city); the city's reviewer
returns the filing with a reason; the county reads the reason on its 报送 page and 工作台,
fixes the plan and refiles; the city sees the refiling accepted.
"""

from __future__ import annotations

import json
import re
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
    berlin,
    field_of,
    hook,
    message,
)
from tests.paths import SAMPLE

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

COUNTY, CITY, PROVINCE = "150602", "150600", "150000"
REASON = "妇女与健康领域缺少策略措施，请补充后重新报送"
MEASURES = "落实孕产妇健康管理服务，开展适龄妇女宫颈癌和乳腺癌免费筛查。"
COMMENT = "建议将宫颈癌筛查率的牵头单位明确为卫健委。"


def framework_doc() -> dict[str, Any]:
    sample = json.loads(SAMPLE.read_text("utf-8"))
    inds = [i for i in sample["indicators"] if i["plan"] == "women"]
    for i in inds:
        if i["area"] == "妇女与健康":
            i["lead_unit"] = "卫健委"
    return {"areas": [{"name": a} for a in sample["areas"]["women"]], "indicators": inds,
            "annual_report_due": "12-31"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def offices(cluster: Cluster) -> Cluster:
    county, city, province = cluster[COUNTY], cluster[CITY], cluster[PROVINCE]
    # set-up through the API: the province's framework, released today, reaches the county
    await province.publish(framework_doc(), beijing_today().date().isoformat())
    await county.wait_for("the province's framework", "/api/v1/frameworks",
                          lambda fws: any(f["origin"] == PROVINCE for f in fws))
    await county.add_user("bianji", "editor")
    await county.add_user("zhuren", "reviewer")
    await county.add_user("weijianwei", "member_unit", unit="卫健委")
    await city.add_user("shenhe", "reviewer")
    return cluster


def row_of(page: Page, table: str, text: str) -> Any:
    """The rows of the hooked el-table that contain ``text``."""
    return page.locator(f"{hook(table)} tr.el-table__row").filter(has_text=text)


async def take_step(page: Page, step: str, status_word: str, status: str) -> None:
    await page.locator(hook(f"step-{step}")).click()
    await expect(page.locator(hook("plan-status"))).to_have_attribute("data-status", status)
    await expect(page.locator(hook("plan-status"))).to_have_text(status_word)


async def confirm_box(page: Page) -> None:
    await page.locator(".el-message-box__btns .el-button--primary").click()


async def reload_until(page: Page, locator: Any, timeout_s: float = 30) -> None:
    """Reload the page until ``locator`` is visible (what arrives from another node)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await expect(locator.first).to_be_visible(timeout=1500)
            return
        except AssertionError:
            if loop.time() > deadline:
                raise
            await page.reload()


async def test_plan_from_framework_to_refiling(offices: Cluster, console: Console) -> None:
    county: Office = offices[COUNTY]
    city: Office = offices[CITY]
    pid = f"{COUNTY}-women"

    # -- the county editor: 工作台 says a framework came down; start the plan from it --------
    editor = await console.open(county, "bianji")
    todo = editor.locator(hook("todo-row")).filter(has_text="编制妇女发展规划")
    await expect(todo).to_be_visible()
    await expect(todo).to_contain_text("第 1 版")
    await editor.locator(hook("menu-plans")).click()
    await expect(editor).to_have_url(f"{county.url}/plans")
    await editor.locator(hook("plan-create")).click()
    dialog = editor.locator(hook("create-dialog"))
    await expect(dialog).to_contain_text("以上级框架为基础")
    await expect(dialog).to_contain_text("v1")
    await expect(field_of(editor, "create-title")).to_have_value(
        f"{county.name}妇女发展规划（2021—2030年）")
    await editor.locator(hook("create-confirm")).click()
    await expect(editor).to_have_url(f"{county.url}/plans/{pid}")
    await expect(editor.locator(hook("plan-status"))).to_have_text("草稿")
    await expect(editor.locator(hook("check-ok"))).to_be_visible()  # nothing lowered
    areas = editor.locator(hook("plan-area"))
    await expect(areas).to_have_count(8)  # the framework's eight areas
    await expect(field_of(areas.nth(0), "area-name")).to_have_value("妇女与健康")
    await expect(field_of(areas.nth(0), "ind-code")).to_have_value("W-HEALTH-01")
    await expect(field_of(areas.nth(0), "ind-name")).to_have_value("孕产妇死亡率")
    # the check while typing: a lowered target is named with the ancestor (the server's rule,
    # POST /plans/{id}/check, nothing saved); discarding the edit clears it
    target = field_of(areas.nth(0), "ind-target")
    await target.fill("20")
    await target.press("Tab")
    live = editor.locator(hook("live-findings"))
    await expect(live).to_contain_text("W-HEALTH-01")
    await expect(live).to_contain_text(offices[PROVINCE].name)
    await editor.locator(hook("plan-discard")).click()
    await expect(editor.locator(hook("check-ok"))).to_be_visible()
    await take_step(editor, "consultation", "征求意见", "consultation")

    # -- the member unit 卫健委 comments in round 1 --------------------------------------------
    member = await console.open(county, "weijianwei")
    ask = member.locator(hook("todo-row")).filter(has_text="妇女规划征求意见（第 1 轮）")
    await expect(ask).to_contain_text("请卫健委提出意见")
    await ask.locator(hook("todo-link")).click()
    await expect(member).to_have_url(f"{county.url}/plans/{pid}")
    await member.get_by_role("tab", name="征求意见").click()
    await expect(field_of(member, "comment-unit")).to_have_value("卫健委")
    await field_of(member, "comment-text").fill(COMMENT)
    await member.locator(hook("comment-submit")).click()
    shown = member.locator(hook("comment")).filter(has_text=COMMENT)
    await expect(shown).to_contain_text("卫健委")
    await expect(shown).to_contain_text("weijianwei")
    at = (await county.call("GET", f"/api/v1/plans/{pid}"))["comments"][0]["at"]
    await expect(shown).to_contain_text(beijing(at))  # Beijing time, not the browser's
    if berlin(at) != beijing(at):
        await expect(shown).not_to_contain_text(berlin(at))
    # a member unit edits nothing and takes no step
    await expect(member.locator(hook("step-expert_review"))).to_have_count(0)

    # -- the editor sees the comment and moves on to expert review -----------------------------
    await editor.reload()
    await editor.get_by_role("tab", name="征求意见").click()
    await expect(editor.locator(hook("comment")).filter(has_text=COMMENT)).to_be_visible()
    await take_step(editor, "expert_review", "专家论证", "expert_review")

    # -- the admin submits, then tries to approve: the server refuses, the page says why -------
    admin = await console.open(county, "admin", path=f"/plans/{pid}")
    await take_step(admin, "submit", "送审", "submitted")
    await admin.locator(hook("step-approve")).click()
    await expect(message(admin, "提交人不能审定")).to_be_visible()
    await expect(admin.locator(hook("plan-status"))).to_have_text("送审")

    # -- the director approves and publishes: version 1, filed with the city -------------------
    director = await console.open(county, "zhuren")
    pending = director.locator(hook("todo-row")).filter(has_text="妇女规划待审批")
    await expect(pending).to_contain_text("admin")
    await pending.locator(hook("todo-link")).click()
    await take_step(director, "approve", "审定", "approved")
    await expect(director.locator(hook("plan-steps"))).to_contain_text("审定")
    await director.locator(hook("step-publish")).click()
    # hook gap: data-test="publish-date" on <el-date-picker> does not reach the DOM
    date_input = director.locator(f'{hook("publish-dialog")} .el-date-editor input')
    await expect(date_input).to_have_value(
        beijing_today().date().isoformat())
    await director.locator(hook("publish-confirm")).click()
    await expect(message(director, "已颁布第 1 版，并已向上级报送")).to_be_visible()
    await expect(director.locator(hook("plan-status"))).to_have_text("颁布")

    # -- the county's 报送 page: the city's receipt, on time ----------------------------------
    await editor.goto("/filings/sent")
    v1 = row_of(editor, "sent-table", "v1")
    await reload_until(editor, v1.locator(hook("sent-outcome")).filter(has_text="已接收"))
    await expect(v1.locator(hook("sent-timeliness"))).to_have_text("按时")
    sent = (await county.call("GET", "/api/v1/filings/sent"))[0]
    await expect(v1).to_contain_text(beijing(sent["sent_at"]))
    await expect(v1).to_contain_text(beijing(sent["receipt"]["received_at"]))

    # -- the city's reviewer returns it with a reason ------------------------------------------
    reviewer = await console.open(city, "shenhe", path="/filings/children")
    filing = row_of(reviewer, "child-filings-table", "东胜区")
    await expect(filing).to_have_count(1)
    await expect(filing).to_contain_text("150602")
    await expect(filing.locator(hook("filing-outcome"))).to_have_text("已接收")
    await expect(filing.locator(hook("filing-timeliness"))).to_have_text("按时")
    received = (await city.call("GET", "/api/v1/filings"))[0]
    await expect(filing).to_contain_text(beijing(received["received_at"]))
    await filing.locator(hook("filing-return")).click()
    await field_of(reviewer, "return-reason").fill(REASON)
    await reviewer.locator(hook("return-confirm")).click()
    await expect(message(reviewer, "已退回")).to_be_visible()
    await expect(filing.locator(hook("filing-outcome"))).to_have_text("已退回")
    await expect(filing).to_contain_text(REASON)
    await expect(filing.locator(hook("filing-return"))).to_have_count(0)

    # -- the county sees the reason on its 报送 page and its 工作台 ----------------------------
    await editor.reload()
    await reload_until(editor, v1.locator(hook("sent-outcome")).filter(has_text="已退回"))
    await expect(v1.locator(hook("sent-reasons"))).to_have_text(REASON)
    await expect(v1.locator(hook("sent-revise"))).to_have_text("修改后重新报送")
    await editor.locator(hook("menu-todo")).click()
    returned = editor.locator(hook("todo-row")).filter(has_text="妇女规划被上级退回")
    await expect(returned).to_contain_text(f"退回理由：{REASON}")
    # due by the refiling date the city's receipt set
    days = returned.locator(hook("todo-days"))
    await expect(days).to_have_text(re.compile(r"剩 \d+ 天|今天到期"))

    # -- it fixes the plan (the health area's measures) and refiles ----------------------------
    await returned.locator(hook("todo-link")).click()
    await expect(editor).to_have_url(f"{county.url}/plans/{pid}")
    await editor.locator(hook("step-revise")).click()
    await confirm_box(editor)
    await expect(editor.locator(hook("plan-status"))).to_have_text("草稿")
    health = editor.locator(hook("plan-area")).nth(0)
    await expect(field_of(health, "area-name")).to_have_value("妇女与健康")
    await field_of(health, "area-measures").fill(MEASURES)
    await editor.locator(hook("plan-save")).click()
    await expect(message(editor, "已保存")).to_be_visible()
    # a revision consults the member units again: straight to expert review is refused
    await editor.locator(hook("step-expert_review")).click()
    await expect(message(editor, "征求意见轮次不足")).to_be_visible()
    await expect(editor.locator(hook("plan-status"))).to_have_text("草稿")
    await take_step(editor, "consultation", "征求意见", "consultation")
    await take_step(editor, "expert_review", "专家论证", "expert_review")
    await take_step(editor, "submit", "送审", "submitted")
    await director.reload()
    await take_step(director, "approve", "审定", "approved")
    await director.locator(hook("step-publish")).click()
    await director.locator(hook("publish-confirm")).click()
    await expect(message(director, "已颁布第 2 版，并已向上级报送")).to_be_visible()

    # -- the city sees the refiling, accepted; the county sees the receipt --------------------
    await reviewer.reload()
    refiled = row_of(reviewer, "child-filings-table", "v2")
    await reload_until(reviewer, refiled)
    await expect(refiled).to_contain_text("东胜区")
    await expect(refiled.locator(hook("filing-outcome"))).to_have_text("已接收")
    await expect(refiled).to_contain_text("重新报送")
    await expect(row_of(reviewer, "child-filings-table", "v1")
                 .locator(hook("filing-outcome"))).to_have_text("已退回")
    await editor.goto("/filings/sent")
    v2 = row_of(editor, "sent-table", "v2")
    await reload_until(editor, v2.locator(hook("sent-outcome")).filter(has_text="已接收"))
    await expect(v2.locator(hook("sent-timeliness"))).to_have_text("按时")
    # the city's copy holds the fix
    filed = await city.call("GET", "/api/v1/filings")
    assert {f["version"]: f["outcome"] for f in filed} == {1: "returned", 2: "accepted"}
