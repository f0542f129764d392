"""Web console first page: how soon a signed-in person sees the 工作台 (`/`), and how much
JavaScript that first page loads, in the system Chromium against one real `plansync serve`
on loopback (SQLite), against the baseline of the same browser painting the node's smallest
page (`/healthz`), measured in the same run.

    bash scripts/build-console && .venv/bin/python bench/console.py [--runs 9]

- cold: a new browser context each run (empty cache, as on a person's first visit), signed
  in through the API (the session cookie), then `/` loaded;
- warm: the same context loading `/` again (the hashed assets come from the cache);
- first contentful paint (the browser's own `paint` entry) and first meaningful content:
  when the first to-do row (or the empty-state text) is in the DOM, from navigation start;
- the JavaScript of the cold first page: each script response's bytes as served and
  gzip-compressed (level 9; the node itself sends them uncompressed), per chunk; the chart
  code (ECharts, zrender, the AggregatesChart chunk) must not be among them.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import shutil
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from node.lab.harness import DEMO_PASSWORD, ProcessCluster  # noqa: E402
from tests.console import browser as chromium  # noqa: E402

CHART = re.compile(r"echarts|zrender|AggregatesChart|chart", re.I)
# recorded by the page itself: when the first to-do row (or the empty state) appears
WATCH = """
(() => {
  const sel = '[data-test="todo-row"], [data-test="todo-empty"]';
  const seen = () => {
    if (window.__content === undefined && document.querySelector(sel)) {
      window.__content = performance.now();
    }
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true });
})();
"""


async def setup(base: Path) -> tuple[ProcessCluster, str]:
    """Province, city and one county (real processes); the county has published its women's plan, so
    its 工作台 lists the report due and the values not yet entered."""
    import json

    snap = base / "dist"  # a rebuild of console/dist during the run changes nothing here
    shutil.copytree(chromium.console_dist(), snap)
    c = await ProcessCluster.create(base / "c", ["150000", "150600", "150603"],
                                    env={"PLANSYNC_LOG_LEVEL": "WARNING",
                                         "PLANSYNC_CONSOLE_DIR": str(snap)})
    await c.start_all()
    await c.enrol_all()
    county = c.members["150603"]
    sample = json.loads((ROOT / "node" / "data" / "framework-sample.json").read_text("utf-8"))
    doc = {"areas": [{"name": a} for a in sample["areas"]["women"]],
           "indicators": [i for i in sample["indicators"] if i["plan"] == "women"]}
    async with c.api("150603") as api:
        r = await api.post("/api/v1/users", json={"name": "zhuren", "role": "reviewer"})
        director = {"Authorization": f"Bearer {r.json()['token']}"}
        (await api.post("/api/v1/plans/import",
                        json={"kind": "women", "title": "t", "document": doc})).raise_for_status()
        for step in ("consultation", "expert_review", "submit"):
            (await api.post(f"/api/v1/plans/150603-women/steps/{step}")).raise_for_status()
        (await api.post("/api/v1/plans/150603-women/steps/approve",
                        headers=director)).raise_for_status()
        (await api.post("/api/v1/plans/150603-women/publish", headers=director,
                        json={"released_on": date.today().isoformat()})).raise_for_status()
    return c, county.url


async def signed_in_context(browser: Any, url: str) -> Any:
    # bypass_csp: the page's CSP forbids eval, which Playwright's wait_for_function uses
    ctx = await browser.new_context(base_url=url, timezone_id=chromium.TIMEZONE,
                                    locale=chromium.LOCALE, bypass_csp=True)
    r = await ctx.request.post("/api/v1/auth/login", headers={"X-Plansync-Console": "1"},
                               data={"name": "admin", "password": DEMO_PASSWORD})
    assert r.ok, await r.text()
    await ctx.add_init_script(WATCH)
    return ctx


async def timings(page: Any, path: str, content: bool) -> dict[str, float]:
    await page.goto(path)
    if content:
        await page.wait_for_function("window.__content !== undefined", timeout=30_000)
    else:
        await page.wait_for_load_state("load")
    await page.wait_for_function(
        "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=30_000)
    return await page.evaluate("""() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
        content: window.__content ?? null,
        load: performance.getEntriesByType('navigation')[0].loadEventEnd,
    })""")


async def measure(url: str, runs: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    out: dict[str, Any] = {"healthz_fcp": [], "cold_fcp": [], "cold_content": [],
                           "warm_fcp": [], "warm_content": []}
    async with async_playwright() as pw:
        browser = await chromium.launch(pw)
        try:
            # warm the node and the browser once (not counted)
            ctx = await signed_in_context(browser, url)
            await timings(await ctx.new_page(), "/", True)
            await ctx.close()
            scripts: dict[str, bytes] = {}
            for i in range(runs):
                ctx = await browser.new_context(base_url=url, bypass_csp=True)
                page = await ctx.new_page()
                out["healthz_fcp"].append((await timings(page, "/healthz", False))["fcp"])
                await ctx.close()

                ctx = await signed_in_context(browser, url)
                page = await ctx.new_page()
                bodies: list[Any] = []
                if i == 0:  # the scripts of the cold first page

                    def keep(r: Any, into: list[Any] = bodies) -> None:
                        into.append(r)

                    page.on("response", keep)
                t = await timings(page, "/", True)
                out["cold_fcp"].append(t["fcp"])
                out["cold_content"].append(t["content"])
                for r in bodies:
                    if not urlsplit(r.url).path.endswith(".js"):
                        continue
                    scripts[urlsplit(r.url).path.rsplit("/", 1)[-1]] = await r.body()
                page2 = await ctx.new_page()
                t = await timings(page2, "/", True)
                out["warm_fcp"].append(t["fcp"])
                out["warm_content"].append(t["content"])
                await ctx.close()
            out["scripts"] = scripts
        finally:
            await browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    why = chromium.what_is_missing()
    if why:
        sys.exit(f"错误 error: {why}")

    async def run() -> dict[str, Any]:
        c, url = await setup(Path(tempfile.mkdtemp(prefix="plansync-console-bench-")))
        try:
            async with httpx.AsyncClient() as cl:  # the node serves the console being measured
                r = await cl.get(url + "/")
                assert "<div id=\"app\">" in r.text, "the node does not serve the built console"
            return await measure(url, args.runs)
        finally:
            c.stop_all()

    res = asyncio.run(run())
    med = {k: statistics.median(v) for k, v in res.items() if k != "scripts"}
    scripts: dict[str, bytes] = res["scripts"]
    chunks = sorted(scripts, key=lambda n: -len(scripts[n]))
    raw = sum(len(b) for b in scripts.values())
    gz = {n: len(gzip.compress(b, compresslevel=9)) for n, b in scripts.items()}
    chart = [n for n in chunks if CHART.search(n) or b"zrender" in scripts[n]]
    base = med["healthz_fcp"]
    print(f"web console, first page (工作台 `/`, signed in) — system Chromium, loopback, "
          f"median of {args.runs}")
    print(f"{'':34}{'ms':>9}{'x /healthz':>12}")
    print(f"{'baseline: /healthz first paint':34}{base:9.1f}{1:12.2f}")
    for key, label in (("cold_fcp", "cold: first contentful paint"),
                       ("cold_content", "cold: first to-do row shown"),
                       ("warm_fcp", "warm: first contentful paint"),
                       ("warm_content", "warm: first to-do row shown")):
        print(f"{label:34}{med[key]:9.1f}{med[key] / base:12.2f}")
    print(f"JavaScript of the first page: {len(scripts)} chunks, {raw / 1024:.1f} KiB as served, "
          f"{sum(gz.values()) / 1024:.1f} KiB gzip-compressed")
    for n in chunks:
        print(f"  {n:44}{len(scripts[n]) / 1024:8.1f} KiB{gz[n] / 1024:8.1f} KiB gz")
    if chart:
        sys.exit(f"错误 error: chart code loaded by the first page: {chart}")
    print("chart code (echarts/zrender/AggregatesChart) on the first page: none")


if __name__ == "__main__":
    main()
