"""The console loads nothing from outside its node (offices' networks have no internet):

- every request a page makes while a person visits every page is to the node itself;
- the built bundle names no URL but harmless ones (XML namespaces, license comments, links
  inside developer warnings), listed in ALLOWED.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.console.conftest import Cluster, Console, beijing_today, hook, report_year
from tests.console.test_plan_journey import framework_doc

COUNTY, CITY, PROVINCE = "150602", "150600", "150000"

# URLs the bundle may contain, as prefixes; none of them is ever requested
ALLOWED = (
    # XML namespaces (Vue's runtime-dom, the icons' SVG)
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/2000/xmlns/",
    # links inside developer warnings (Vue, Element Plus deprecations): text, never fetched
    "https://vuejs.org/error-reference/",
    "https://element-plus.org/",
    # license comments kept by the minifier (ECharts' zrender)
    "https://github.com/ecomfe/zrender/blob/master/LICENSE",
    "https://github.com/apache/echarts/blob/master/LICENSE",
    # the base src/api/client.ts gives `new URL()` to read a request's path
    "http://x",
)
URL = re.compile(r"""https?://[^\s"'`<>()\\{}]+""")


def test_the_bundle_names_no_outside_url(console_build: Path) -> None:
    dist = console_build
    found: dict[str, set[str]] = {}
    for f in sorted(dist.rglob("*")):
        if f.is_file() and f.suffix in (".js", ".mjs", ".css", ".html", ".svg", ".json",
                                          ".webmanifest", ".txt"):
            for url in URL.findall(f.read_text("utf-8", errors="replace")):
                found.setdefault(url, set()).add(str(f.relative_to(dist)))
    outside = {u: sorted(files) for u, files in found.items()
               if not u.startswith(ALLOWED)}
    assert not outside, f"URLs outside the node in console/dist: {outside}"
    # the page's own policy says the same: only 'self'
    index = (dist / "index.html").read_text("utf-8")
    assert not URL.findall(index), "index.html loads something from elsewhere"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def offices(cluster: Cluster) -> Cluster:
    """Something on every page: the province's framework, the city's plan (its report page
    has the aggregates tab), the county's plan filed with the city (set up through the API)."""
    today = beijing_today().date().isoformat()
    await cluster[PROVINCE].publish(framework_doc(), today)
    await cluster[COUNTY].wait_for("the framework", "/api/v1/frameworks", bool)
    await cluster[CITY].publish(framework_doc(), today)
    await cluster[COUNTY].publish(framework_doc(), today)
    await cluster[CITY].wait_for("the county's filing", "/api/v1/filings", bool)
    return cluster


async def settle(page: Page) -> None:
    """Wait until the page shows its content (no loading mask)."""
    await expect(page.locator(hook("menu"))).to_be_visible()
    await expect(page.locator(".el-loading-mask:visible")).to_have_count(0)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.timeout(180)
async def test_every_page_requests_only_its_node(offices: Cluster, console: Console) -> None:
    year = report_year()
    menus = {CITY: ["plans", "frameworks", "filingsSent", "filingsChildren", "reports",
                    "children", "admin", "todo"],
             COUNTY: ["plans", "frameworks", "filingsSent", "reports", "admin", "todo"]}
    for code, keys in menus.items():
        page = await console.open(offices[code], "admin")
        for key in keys:  # as a person does: through the menu
            await page.locator(hook(f"menu-{key}")).click()
            await settle(page)
        if code == CITY:
            # the children's reports, a filed plan in its dialog, the aggregates tab
            await page.locator(hook("menu-filingsChildren")).click()
            await page.get_by_role("tab", name="下级年度报告").click()
            await page.get_by_role("tab", name="下级规划备案").click()
            await page.locator(hook("filing-open")).first.click()
            await expect(page.locator(hook("filed-plan-dialog"))).to_be_visible()
            await page.goto(f"/reports/women/{year}")
            await page.get_by_role("tab", name="下级汇总").click()
            await settle(page)
        else:
            await page.goto(f"/plans/{COUNTY}-women")
            for tab in ("标准核查", "征求意见", "流程记录", "版本", "规划内容"):
                await page.get_by_role("tab", name=tab).click()
            await settle(page)
        await page.wait_for_load_state("networkidle")
        await page.locator(hook("logout")).click()
        await expect(page.locator(hook("login-submit"))).to_be_visible()
    hosts = {urlsplit(u).netloc for _, u in console.requests}
    nodes = {urlsplit(offices[c].url).netloc for c in (CITY, COUNTY)}
    assert hosts <= nodes, f"requests to {hosts - nodes}"
    assert not console.foreign_requests()
    # and the pages did load things (the recorder works): scripts, styles and API answers
    paths = {urlsplit(u).path for _, u in console.requests}
    assert any(p.startswith("/assets/") and p.endswith(".js") for p in paths)
    assert "/api/v1/me" in paths
    assert not console.page_errors, console.page_errors
