"""Issue #13 through the console: the province's auditor reads the oversight pages of its
subtree at real nodes.

The auditor opens 概览 (the cards count what the set-up made: plan filings on time and
returned, annual reports late and overdue; the tree coloured by each office's most urgent
status), filters 督查审计 to the overdue county filings (exactly the offices that did not
file), exports them to Excel (the file has the title row, the 序号 header and the same rows
as the page), drills from the tree into one county (only its rows, Beijing receipt times)
and into the other (its returned plan filing with its history), and opens 预警, where the
county that reported a bad value has a warning explained by its chart (checked by what the
chart shows: series names and point counts). The city's reviewer sees 同步状态 with its
children.

Set-up (through the API, except one thing): every level publishes the same women's plan; the
counties file theirs with the city (康巴什区 released 45 days ago, and the city returns it);
东胜区 files the annual reports of the last two years late (a bad, worsening 孕产妇死亡率),
康巴什区 and the city file none. Which reports were due depends on when each office joined
the tree (the audit counts from then), and the nodes of a test cluster all joined minutes
ago: nothing could be overdue. So the province's record of when its subtree joined is moved
back (in its database, as tests/reports does), to before the due date of the report three
years ago. The reports' due day is 40 days ago, so last year's is overdue today.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from openpyxl import load_workbook
from playwright.async_api import Page, expect

from node.audit.timeliness import STAGES, evaluation_due
from node.plans.dates import annual_report_due
from tests.console.conftest import (
    Cluster,
    Console,
    Office,
    beijing,
    beijing_today,
    hook,
    report_year,
)
from tests.paths import SAMPLE

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

PROVINCE, CITY, DONGSHENG, KANGBASHI = "150000", "150600", "150602", "150603"
NAMES = {CITY: "鄂尔多斯市", DONGSHENG: "东胜区", KANGBASHI: "康巴什区"}
MMR, SCREENING = "W-HEALTH-01", "W-HEALTH-02"  # 孕产妇死亡率 (< 12/10万), 宫颈癌筛查率 (> 70%)
REASON = "规划未列明各项指标的牵头单位，请补充后重新报送"
SH = ZoneInfo("Asia/Shanghai")

TODAY = beijing_today().date()
DUE = TODAY - timedelta(days=40)  # the annual reports' due day this year: 40 days ago
if (DUE.month, DUE.day) == (2, 29):
    DUE -= timedelta(days=1)
DUE_DAY = DUE.strftime("%m-%d")
YEAR = DUE.year - 1  # the report year due on DUE: overdue now unless filed
YEARS = (YEAR - 2, YEAR - 1, YEAR)  # the reports the offices owe (joined before YEAR - 2's due)
JOINED = annual_report_due(YEAR - 2, DUE_DAY) - timedelta(days=10)


def doc() -> dict[str, Any]:
    """The sample women's indicators, every level the same (nothing lowered), reports due
    on DUE_DAY."""
    sample = json.loads(SAMPLE.read_text("utf-8"))
    return {"areas": [{"name": a} for a in sample["areas"]["women"]],
            "indicators": [i for i in sample["indicators"] if i["plan"] == "women"],
            "annual_report_due": DUE_DAY}


def filing_words(year: int | None) -> str:
    """How the page (and the XLSX) names a filing."""
    return "妇女规划备案" if year is None else f"{year}年度妇女规划实施情况报告"


# the mid-term (2025) / final (2030) evaluations every office owes once the stage year is
# among the audited report years (2021 up to last year), due June 30 of the year after (the
# plan sets no evaluation_due; all joined before): none was filed. A row is office + filing:
# the 2025 evaluation is a row of its own next to the 2025 report.
EVALS = {f"evaluation.women.{s}": "overdue" if TODAY > evaluation_due(s) else "pending"
         for s in STAGES if s < TODAY.year}
EVAL_WORDS = {2025: "妇女规划中期评估报告", 2030: "妇女规划终期评估报告"}


async def backdate_joining(cluster: Cluster) -> None:
    """The province's subtree joined on JOINED (what the audit counts the due reports from)."""
    from sqlalchemy import update

    from node.db import create_engine, session_factory, transaction
    from node.models import KnownNode

    engine = create_engine(cluster.c.members[PROVINCE].database_url)
    try:
        async with transaction(session_factory(engine)) as s:
            await s.execute(update(KnownNode).where(KnownNode.code != PROVINCE).values(
                enrolled_at=datetime(JOINED.year, JOINED.month, JOINED.day, 12, tzinfo=SH)))
    finally:
        await engine.dispose()


# what the province's audit must hold once the set-up has reached it: (office, filing) →
# status
EXPECTED: dict[tuple[str, str], str] = {
    (CITY, "plan.women"): "on_time", **{(CITY, f"report.women.{y}"): "overdue" for y in YEARS},
    (DONGSHENG, "plan.women"): "on_time", (DONGSHENG, f"report.women.{YEAR - 2}"): "overdue",
    (DONGSHENG, f"report.women.{YEAR - 1}"): "late", (DONGSHENG, f"report.women.{YEAR}"): "late",
    (KANGBASHI, "plan.women"): "returned",
    **{(KANGBASHI, f"report.women.{y}"): "overdue" for y in YEARS},
    **{(c, f): s for c in NAMES for f, s in EVALS.items()},
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def audit(cluster: Cluster) -> dict[tuple[str, str], dict[str, Any]]:
    """The set-up; returns the province's audit rows (for the exact times and days late)."""
    province, city = cluster[PROVINCE], cluster[CITY]
    dongsheng, kangbashi = cluster[DONGSHENG], cluster[KANGBASHI]
    # the whole subtree is known at the province before its joining dates are moved back
    await province.wait_for("the counties' enrolment", "/api/v1/oversight/offices",
                            lambda os_: {DONGSHENG, KANGBASHI} <= {o["code"] for o in os_})
    await backdate_joining(cluster)
    await province.publish(doc(), TODAY.isoformat())
    await city.publish(doc(), TODAY.isoformat())
    await dongsheng.publish(doc(), TODAY.isoformat())
    await kangbashi.publish(doc(), (TODAY - timedelta(days=45)).isoformat())  # filed late
    await province.add_user("ducha", "auditor")
    await city.add_user("shenhe", "reviewer")
    filings = await city.wait_for("both counties' plan filings", "/api/v1/filings",
                                  lambda fs: {f["filer"] for f in fs} == {DONGSHENG, KANGBASHI})
    late = next(f for f in filings if f["filer"] == KANGBASHI)
    await city.call("POST", f"/api/v1/filings/{late['id']}/return", as_user="shenhe",
                    json={"reasons": REASON})
    # 东胜区's maternal mortality gets worse (target < 12/10万); its screening rate is met
    for year, deaths in ((YEAR - 1, 20), (YEAR, 30)):
        await dongsheng.call("PUT", f"/api/v1/reports/women/{year}/values/{MMR}",
                             json={"numerator": deaths, "denominator": 100_000})
        await dongsheng.call("PUT", f"/api/v1/reports/women/{year}/values/{SCREENING}",
                             json={"numerator": 800, "denominator": 1000})
        await dongsheng.call("POST", f"/api/v1/reports/women/{year}/file")

    # (the province may audit more offices than the enrolled ones: only these are checked)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        page = await province.call("GET", "/api/v1/oversight/filings",
                                   params={"city": CITY, "kind": "women", "size": 500})
        mine = {(r["code"], r["filing"]): r["status"] for r in page["rows"]
                if r["code"] in NAMES}
        if mine == EXPECTED:
            break
        assert loop.time() < deadline, f"the province's audit never showed the set-up: {mine}"
        await asyncio.sleep(0.3)
    return {(r["code"], r["filing"]): r for r in page["rows"] if r["code"] in NAMES}


async def choose(page: Page, select: str, label: str) -> None:
    """Pick ``label`` in the hooked el-select (its options are in a popper under <body>)."""
    await page.locator(hook(select)).click()
    option = page.locator(".el-select-dropdown__item:visible").filter(
        has_text=re.compile(f"^{re.escape(label)}$"))
    await option.click()


def audit_rows(page: Page) -> Any:
    return page.locator(f"{hook('audit-table')} tr.el-table__row")


async def shown_rows(page: Page) -> list[tuple[str, str, str]]:
    """(office code, filing, status) of every row the audit table shows, in order."""
    out = []
    for el in await page.locator(hook("audit-row")).all():
        out.append((await el.get_attribute("data-code") or "",
                    await el.get_attribute("data-filing") or "",
                    await el.get_attribute("data-status") or ""))
    return out


def filing_key(year: int | None) -> str:
    return "plan.women" if year is None else f"report.women.{year}"


async def test_province_auditor_overview_audit_export_warnings(
        audit: dict[tuple[str, str], dict[str, Any]], cluster: Cluster,
        console: Console) -> None:
    province: Office = cluster[PROVINCE]
    city: Office = cluster[CITY]

    # -- 概览: the cards count what the set-up made; the tree is coloured by status ----------
    overview = await province.call("GET", "/api/v1/oversight/overview",
                                   params={"year": YEAR})  # (what the page must show)
    ui = await console.open(province, "ducha", path="/overview")
    await expect(ui.locator(hook("header-role"))).to_contain_text("审计/督查")
    if YEAR != report_year():  # early in the year the overdue reports are of the year before
        await choose(ui, "overview-year", f"{YEAR}年度报告")
    plans = ui.locator(hook("overview-card", '[data-card="plans"]'))
    reports = ui.locator(hook("overview-card", '[data-card="reports"]'))
    await expect(reports).to_contain_text(f"{YEAR}")
    # (pending is left out: offices of the division tree that never enrolled may count there)
    for card, counts in ((plans, {"on_time": 2, "returned": 1, "late": 0, "overdue": 0}),
                         (reports, {"on_time": 0, "late": 1, "overdue": 2, "returned": 0})):
        for status, n in counts.items():
            await expect(card.locator(hook("overview-count", f'[data-status="{status}"]'))) \
                .to_have_attribute("data-count", str(n))
    await expect(plans.locator(hook("overview-count", '[data-status="returned"]'))) \
        .to_contain_text("1已退回")
    await expect(reports.locator(hook("overview-count", '[data-status="overdue"]'))) \
        .to_contain_text("2超期未报")
    # two warnings, both of 东胜区's maternal mortality: off target, and volatile (20 → 30)
    await expect(ui.locator(hook("overview-warnings"))).to_have_attribute("data-count", "2")
    # rates per level: the counties' plans 2 of 2 filed, 1 on time; the reports' rates as the
    # server computes them (offices that never enrolled may count as due), never above 100%
    rate = ui.locator(hook("overview-rate", '[data-level="county"][data-what="plan"]'))
    await expect(rate).to_have_attribute("data-reporting", "1")
    await expect(rate).to_have_attribute("data-on-time", "0.5")
    for r in overview["by_level"]:
        rate = ui.locator(hook("overview-rate",
                               f'[data-level="{r["level"]}"][data-what="{r["what"]}"]'))
        for attr, key in (("data-reporting", "reporting_rate"), ("data-on-time", "on_time_rate")):
            if r[key] is not None:
                assert 0 <= r[key] <= 1
                await expect(rate).to_have_attribute(attr, str(r[key]).removesuffix(".0"))
    # the tree: province → city → the two counties, each coloured by its most urgent status
    for code, status, word in ((CITY, "overdue", "超期未报"), (DONGSHENG, "late", "逾期"),
                               (KANGBASHI, "overdue", "超期未报")):
        node = ui.locator(hook("tree-node", f'[data-code="{code}"]'))
        await expect(node).to_have_attribute("data-status", status)
        await expect(node).to_contain_text(NAMES[code])
        await expect(node).to_contain_text(word)
    await expect(ui.locator(hook("tree-node", f'[data-code="{PROVINCE}"]'))) \
        .to_have_attribute("data-status", "")

    # -- 督查审计 filtered to the overdue county filings -------------------------------------
    await ui.locator(hook("menu-audit")).click()
    await expect(ui).to_have_url(f"{province.url}/audit")
    await expect(audit_rows(ui).first).to_be_visible()
    await choose(ui, "audit-what", "年度报告")  # annual reports only: not the evaluations
    await expect(ui).to_have_url(re.compile(r"what=report"))
    await choose(ui, "audit-level", "县级")
    await expect(ui).to_have_url(re.compile(r"level=county"))
    await choose(ui, "audit-status", "超期未报")
    await expect(ui).to_have_url(re.compile(r"status=overdue"))
    overdue: list[tuple[str, int]] = sorted(  # (reports only: a plan has no due date here)
        ((c, int(f.split(".")[2])) for (c, f), s in EXPECTED.items()
         if s == "overdue" and c != CITY and f.startswith("report.")),
        key=lambda k: (audit[(k[0], filing_key(k[1]))]["due_on"], k[0]))  # the server's order
    await expect(ui.locator(hook("audit-total"))).to_have_attribute(
        "data-total", str(len(overdue)))
    await expect(audit_rows(ui)).to_have_count(len(overdue))
    assert await shown_rows(ui) == [(c, filing_key(y), "overdue") for c, y in overdue]
    for i, (code, year) in enumerate(overdue):
        row = audit_rows(ui).nth(i)
        await expect(row).to_contain_text(NAMES[code])
        await expect(row).to_contain_text("县级")
        await expect(row).to_contain_text("鄂尔多斯市")
        await expect(row.locator(hook("audit-filing"))).to_have_text(filing_words(year))
        await expect(row).to_contain_text(annual_report_due(year, DUE_DAY).isoformat())
        await expect(row.locator(hook("audit-status-tag"))).to_have_text("超期未报")
        await expect(row.locator(hook("audit-received"))).to_have_text("—")
        days = (TODAY - annual_report_due(year, DUE_DAY)).days  # the clock runs
        await expect(row.locator(hook("audit-late"))).to_have_text(f"{days} 天")
    await expect(audit_rows(ui).filter(has_text="鄂尔多斯市 150600")).to_have_count(0)

    # -- 导出 Excel: the same rows, in the layout an office prints ----------------------------
    async with ui.expect_download() as info:
        await ui.locator(hook("audit-export")).click()
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    ws = load_workbook(BytesIO((await download.path()).read_bytes())).active
    assert ws is not None
    assert ws["A1"].value == "内蒙古自治区妇女儿童发展规划报送及时性督查表"
    header = [c.value for c in ws[2]]
    assert header[:3] == ["序号", "单位代码", "单位名称"] and "状态" in header
    assert ws["A2"].font.bold and ws.freeze_panes == "A3"
    data = [r for r in ws.iter_rows(min_row=3, values_only=True) if r[1]]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[8]) for r in data] == [
        (n, code, NAMES[code], "县级", "鄂尔多斯市", filing_words(year), "超期未报")
        for n, (code, year) in enumerate(overdue, start=1)]
    for r, (_, year) in zip(data, overdue, strict=True):
        assert r[6] is not None and r[6].date() == annual_report_due(year, DUE_DAY)
        assert r[7] is None  # never received
        assert r[9] == (TODAY - annual_report_due(year, DUE_DAY)).days

    # -- the evaluation reports, their own rows in words (same office and year, not merged) -
    await choose(ui, "audit-what", "中期/终期评估报告")
    await expect(ui).to_have_url(re.compile(r"what=evaluation"))
    evals = sorted((c, f) for (c, f), s in EXPECTED.items()
                   if s == "overdue" and c != CITY and f.startswith("evaluation."))
    await expect(ui.locator(hook("audit-total"))).to_have_attribute(
        "data-total", str(len(evals)))
    assert await shown_rows(ui) == [(c, f, "overdue") for c, f in evals]
    for i, (code, f) in enumerate(evals):
        row = audit_rows(ui).nth(i)
        await expect(row.locator(hook("audit-filing"))).to_have_text(
            EVAL_WORDS[int(f.split(".")[2])])
        await expect(row).to_contain_text(audit[(code, f)]["due_on"])

    # -- drill into 东胜区 from the tree: only its rows, received in Beijing time -------------
    await ui.locator(hook("menu-overview")).click()
    await ui.locator(hook("tree-node", f'[data-code="{DONGSHENG}"]')).click()
    await expect(ui).to_have_url(re.compile(rf"/audit\?.*office={DONGSHENG}"))
    await expect(ui.locator(hook("audit-office"))).to_have_text(f"仅看：{NAMES[DONGSHENG]}")
    mine = sorted(((c, f) for c, f in EXPECTED if c == DONGSHENG),
                  key=lambda k: (["overdue", "returned", "late", "pending", "on_time"]
                                 .index(EXPECTED[k]), audit[k]["due_on"] or "", k[1]))
    await expect(audit_rows(ui)).to_have_count(len(mine))
    assert await shown_rows(ui) == [(c, f, EXPECTED[(c, f)]) for c, f in mine]
    for i, k in enumerate(mine):
        shown, want = audit_rows(ui).nth(i), audit[k]
        await expect(shown).to_contain_text(NAMES[DONGSHENG])
        if want["received_at"]:
            await expect(shown.locator(hook("audit-received"))).to_have_text(
                beijing(want["received_at"]))
    late = audit_rows(ui).filter(has_text=filing_words(YEAR))
    assert audit[(DONGSHENG, filing_key(YEAR))]["late_days"] == 40
    await expect(late.locator(hook("audit-status-tag"))).to_have_text("逾期")
    await expect(late.locator(hook("audit-late"))).to_have_text("40 天")
    await expect(audit_rows(ui).filter(has_text=filing_words(None))
                 .locator(hook("audit-status-tag"))).to_have_text("按时")

    # -- and into 康巴什区: its plan filing returned, the history says so --------------------
    await ui.locator(hook("menu-overview")).click()
    await ui.locator(hook("tree-node", f'[data-code="{KANGBASHI}"]')).click()
    await expect(ui.locator(hook("audit-office"))).to_have_text(f"仅看：{NAMES[KANGBASHI]}")
    await expect(audit_rows(ui)).to_have_count(4 + len(EVALS))
    assert {c for c, _, _ in await shown_rows(ui)} == {KANGBASHI}
    plan = audit_rows(ui).filter(has_text=filing_words(None))
    returned = audit[(KANGBASHI, filing_key(None))]
    await expect(plan.locator(hook("audit-status-tag"))).to_have_text("已退回")
    await expect(plan.locator(hook("audit-received"))).to_have_text(
        beijing(returned["received_at"]))
    assert returned["late_days"] > 0  # released 45 days ago, due a month after
    await expect(plan.locator(hook("audit-late"))).to_have_text(f"{returned['late_days']} 天")
    await plan.locator(".el-table__expand-icon").click()
    items = ui.locator(hook("history-item"))
    await expect(items).to_have_count(2)
    await expect(items.nth(0)).to_have_attribute("data-outcome", "accepted")
    await expect(items.nth(1)).to_have_attribute("data-outcome", "returned")
    await expect(items.nth(1)).to_contain_text("已退回")

    # -- 预警: 东胜区's maternal mortality, off target, explained by its chart ----------------
    await ui.locator(hook("menu-warnings")).click()
    await expect(ui).to_have_url(f"{province.url}/warnings")
    await ui.locator(hook("warn-office-row", f'[data-code="{DONGSHENG}"]')).click()
    await expect(ui).to_have_url(re.compile(rf"scope={DONGSHENG}"))
    n = len(doc()["indicators"])
    for bucket, count in (("off_target", 1), ("already_met", 1), ("no_data", n - 2),
                          ("on_track", 0), ("at_risk", 0)):
        await expect(ui.locator(hook("warn-bucket", f'[data-bucket="{bucket}"]'))) \
            .to_have_attribute("data-count", str(count))
    ind = ui.locator(hook("warn-indicator", f'[data-code="{MMR}"]'))
    await expect(ind).to_have_attribute("data-bucket", "off_target")
    await expect(ind).to_contain_text("孕产妇死亡率")
    warning = ind.locator(hook("warning", '[data-kind="off_target"]'))
    await expect(warning).to_contain_text("未达目标")
    await expect(warning).to_contain_text(f"{YEAR}年 30")
    await expect(ind).to_have_attribute("data-warnings", "2")
    await expect(ind.locator(hook("warning", '[data-kind="volatile"]'))).to_contain_text("波动较大")
    chart = ind.locator(hook("warn-chart", f'[data-code="{MMR}"]'))
    await expect(chart).to_have_attribute("data-series", re.compile(r"\S"))
    series = json.loads(await chart.get_attribute("data-series") or "[]")
    # one line over 2021…YEAR: the two reported years drawn, the years before them gaps
    assert series == [{"name": "孕产妇死亡率", "points": 2, "gaps": YEAR - 2021 + 1 - 2}]
    # an indicator without warnings has no chart until asked for
    met = ui.locator(hook("warn-indicator", f'[data-code="{SCREENING}"]'))
    await expect(met).to_have_attribute("data-bucket", "already_met")
    await expect(met.locator(hook("warn-chart"))).to_have_count(0)

    # -- the city's reviewer: 同步状态 lists the parent and both children ---------------------
    reviewer = await console.open(city, "shenhe", path="/sync")
    for code, relation in ((PROVINCE, "parent"), (DONGSHENG, "child"), (KANGBASHI, "child")):
        await expect(reviewer.locator(hook("sync-row", f'[data-code="{code}"]'))) \
            .to_have_attribute("data-relation", relation)
    await expect(reviewer.locator(hook("sync-row"))).to_have_count(3)
    for code in (DONGSHENG, KANGBASHI):
        row = reviewer.locator(f"{hook('sync-table')} tr.el-table__row").filter(
            has=reviewer.locator(hook("sync-row", f'[data-code="{code}"]')))
        await expect(row).to_contain_text(NAMES[code])
        await expect(row.locator(hook("sync-row"))).to_have_attribute("data-dead", "0")
        # the city's own framework (its plan, v1) reached the child
        await expect(row.locator(hook("sync-framework", '[data-kind="women"]'))) \
            .to_have_attribute("data-held", "1")
    # -- the province's 工作台: its city's overdue mid-term evaluation, in words ------------
    # (the province's record of when its subtree joined is the backdated one)
    await ui.locator(hook("menu-todo")).click()
    for f, status in EVALS.items():
        row = ui.locator(hook("todo-row", '[data-kind="child_overdue"]')).filter(
            has_text=f"{NAMES[CITY]} {EVAL_WORDS[int(f.split('.')[2])]}超期未报")
        await expect(row).to_have_count(1 if status == "overdue" else 0)
        if status == "overdue":
            await expect(row).to_have_attribute("data-severity", "overdue")
    assert not console.page_errors, console.page_errors
