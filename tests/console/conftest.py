"""Real-browser tests of the web console: the system Chromium (Playwright's async API) against
real `plansync serve` processes serving the built console.

- Without Chromium, Playwright or a built console (console/dist/index.html) the tests are
  skipped and listed in the loud SERVICES SKIPPED block; with ``CI=true`` they fail instead.
- One cluster (province 150000 → city 150600 → counties 150602, 150603) per test module.
- Every browser context runs in Europe/Berlin with locale zh-CN: times on the page must be
  Beijing time anyway.
- When a test fails, every page it opened is saved as a PNG in tests/console/artifacts/.
- Every request a page makes is recorded; a request to any host but the page's own node fails
  the test (the console loads nothing from anywhere else).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from node.lab.harness import DEMO_PASSWORD, ProcessCluster, pick
from tests import services
from tests.console import browser as chromium

try:
    from playwright.async_api import expect
except ImportError as e:  # not installed: say so loudly (CI fails), and collect nothing here
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("Playwright is required in CI (CI=true): pip install -e '.[dev]'") \
            from e
    services.SKIPPED["Web console (Chromium + built console)"] = \
        "Python Playwright is not installed (pip install -e '.[dev]')"
    collect_ignore_glob = ["test_*.py"]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = DEMO_PASSWORD
FAST = {"PLANSYNC_MAX_BACKOFF_SECONDS": "1", "PLANSYNC_SWEEP_INTERVAL_SECONDS": "0.3",
        "PLANSYNC_PULL_INTERVAL_SECONDS": "2", "PLANSYNC_LOG_LEVEL": "WARNING"}
# how long the page may take to show something (two busy CPU cores, four node processes)
SEEN = 15_000
BEIJING = timedelta(hours=8)
if "expect" in globals():
    expect.set_options(timeout=SEEN)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


# ---- what the console needs -----------------------------------------------------------------

def _need_console() -> None:
    why = chromium.what_is_missing()
    if why:
        services._missing("Web console (Chromium + built console)", why)


# ---- the offices --------------------------------------------------------------------------------

@dataclass
class Office:
    """One node of the cluster, driven through its HTTP API (set-up only: what a test checks
    it reads on the page)."""

    code: str
    name: str
    level: str
    url: str
    token: str
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, path: str, *, as_user: str | None = None,
                   ok: bool = True, **kw: Any) -> Any:
        token = self.tokens[as_user] if as_user else self.token
        async with httpx.AsyncClient(base_url=self.url, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as cl:
            r = await cl.request(method, path, **kw)
        if ok:
            assert r.status_code < 400, (self.code, method, path, r.status_code, r.text)
        return r.json() if r.content else None

    async def add_user(self, name: str, role: str, unit: str | None = None) -> None:
        """A user who signs in to the console with PASSWORD."""
        r = await self.call("POST", "/api/v1/users", json={
            "name": name, "role": role, "unit": unit, "password": PASSWORD})
        self.tokens[name] = r["token"]

    async def publish(self, doc: dict[str, Any], released_on: str, kind: str = "women",
                      director: str = "director") -> None:
        """Import, take through the workflow and publish a plan (set-up through the API)."""
        if director not in self.tokens:
            await self.add_user(director, "reviewer")
        pid = f"{self.code}-{kind}"
        await self.call("POST", "/api/v1/plans/import",
                        json={"kind": kind, "title": f"{self.name}{kind}规划", "document": doc})
        for step in ("consultation", "expert_review", "submit"):
            await self.call("POST", f"/api/v1/plans/{pid}/steps/{step}")
        await self.call("POST", f"/api/v1/plans/{pid}/steps/approve", as_user=director)
        await self.call("POST", f"/api/v1/plans/{pid}/publish", as_user=director,
                        json={"released_on": released_on})

    async def wait_for(self, what: str, path: str, check: Any, timeout: float = 60) -> Any:
        """Poll GET ``path`` until ``check(answer)`` is true; return the answer."""
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            got = await self.call("GET", path)
            if check(got):
                return got
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.code}: timed out waiting for {what}: {got!r}")
            await asyncio.sleep(0.2)


@dataclass
class Cluster:
    c: ProcessCluster
    offices: dict[str, Office]

    def __getitem__(self, code: str) -> Office:
        return self.offices[code]


@pytest.fixture(scope="session")
def console_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the built console taken when the first test needs it: the nodes serve
    the snapshot, so a rebuild of console/dist during the run changes nothing under a test."""
    _need_console()
    snap = tmp_path_factory.mktemp("console-dist") / "dist"
    shutil.copytree(chromium.console_dist(), snap)
    if not (snap / "index.html").is_file():  # caught in the middle of a rebuild
        services._missing("Web console (Chromium + built console)",
                          "console/dist changed while it was copied; build it again")
    return snap


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(console_build: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Cluster]:
    """Province 150000 → city 150600 → counties 150602 东胜区 and 150603 康巴什区, real
    processes serving the built console."""
    env = {**FAST, "PLANSYNC_CONSOLE_DIR": str(console_build)}
    c = await ProcessCluster.create(tmp_path_factory.mktemp("console") / "c",
                                    pick("150600", limit_children=2), env=env)
    try:
        await c.start_all()
        await c.enrol_all()
        yield Cluster(c, {code: Office(code, m.name, m.level, m.url, m.token)
                          for code, m in c.members.items()})
    finally:
        c.stop_all()


# ---- the browser --------------------------------------------------------------------------------

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    _need_console()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await chromium.launch(pw)
        try:
            yield b
        finally:
            await b.close()


class Console:
    """Browser sessions of one test: each ``open`` is a new context (its own cookies), i.e.
    another person at another desk."""

    def __init__(self, browser: Any, test_name: str) -> None:
        self.browser = browser
        self.test_name = test_name
        self.contexts: list[Any] = []
        self.pages: list[tuple[str, Any]] = []  # (label, page)
        self.requests: list[tuple[str, str]] = []  # (the node's origin, a URL requested)
        self.page_errors: list[str] = []

    async def open(self, office: Office, user: str | None = None, *, path: str = "/",
                   password: str = PASSWORD) -> Any:
        """A new browser session at ``office``'s console; signed in as ``user`` through the
        login page when given."""
        ctx = await self.browser.new_context(
            base_url=office.url, timezone_id=chromium.TIMEZONE, locale=chromium.LOCALE,
            viewport={"width": 1440, "height": 900})
        ctx.set_default_timeout(SEEN)
        self.contexts.append(ctx)
        page = await ctx.new_page()
        self.pages.append((f"{office.code}-{user or 'anon'}", page))
        origin = office.url
        page.on("request", lambda req: self.requests.append((origin, req.url)))
        page.on("pageerror", lambda e: self.page_errors.append(f"{office.code}: {e}"))
        if user is None:
            await page.goto(path)
            return page
        await page.goto("/login" if path == "/" else f"/login?next={path}")
        await sign_in(page, user, password)
        await page.wait_for_url(lambda u: urlsplit(u).path == path)
        return page

    def foreign_requests(self) -> list[str]:
        out = []
        for origin, url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if f"{parts.scheme}://{parts.netloc}" != origin:
                out.append(url)
        return out

    async def screenshots(self) -> list[Path]:
        ARTIFACTS.mkdir(exist_ok=True)
        safe = re.sub(r"[^\w.-]+", "_", self.test_name)[:120]
        saved = []
        for i, (label, page) in enumerate(self.pages):
            if page.is_closed():
                continue
            path = ARTIFACTS / f"{safe}-{i}-{label}.png"
            try:
                await page.screenshot(path=str(path), full_page=True, timeout=10_000)
                saved.append(path)
            except Exception as e:  # a crashed page must not hide the test's own failure
                print(f"screenshot of {label} failed: {e}")
        return saved

    async def close(self) -> None:
        for ctx in self.contexts:
            await ctx.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[pytest.TestReport]:
    rep: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[rep.when] = rep
    return rep


@pytest_asyncio.fixture(loop_scope="module")
async def console(browser: Any, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    ui = Console(browser, request.node.name)
    try:
        yield ui
    finally:
        reps = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reps.values()):
            saved = await ui.screenshots()
            print("screenshots of the failed test:", *map(str, saved), sep="\n  ")
            if ui.page_errors:
                print("errors in the pages:", *ui.page_errors, sep="\n  ")
        await ui.close()
    foreign = ui.foreign_requests()
    assert not foreign, f"the console requested URLs outside its node: {foreign}"


# ---- on the page --------------------------------------------------------------------------------

def hook(name: str, extra: str = "") -> str:
    """CSS for a console `data-test` hook."""
    return f'[data-test="{name}"]{extra}'


def field_of(page: Any, name: str) -> Any:
    """The <input>/<textarea> of a hooked Element Plus field (the hook may sit on the input
    itself or on its wrapper)."""
    return page.locator(
        f'input{hook(name)}, textarea{hook(name)}, {hook(name)} input, {hook(name)} textarea'
    ).first


async def sign_in(page: Any, user: str, password: str) -> None:
    await field_of(page, "login-name").fill(user)
    await field_of(page, "login-password").fill(password)
    await page.locator(hook("login-submit")).click()


def message(page: Any, text: str | re.Pattern[str]) -> Any:
    """An Element Plus message (ElMessage toast) with ``text``."""
    return page.locator(".el-message").filter(has_text=text)


def beijing(ts: str) -> str:
    """An RFC 3339 UTC timestamp as the console must show it: Beijing wall clock,
    ``YYYY-MM-DD HH:mm``."""
    t = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC) + BEIJING
    return t.strftime("%Y-%m-%d %H:%M")


def berlin(ts: str) -> str:
    """The same instant on the browser's own clock (what a careless page would show)."""
    from zoneinfo import ZoneInfo

    t = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(ZoneInfo(chromium.TIMEZONE))
    return t.strftime("%Y-%m-%d %H:%M")


def beijing_today() -> datetime:
    return datetime.now(UTC) + BEIJING


def report_year() -> int:
    """The year the console's 年度报告 menu opens: last year in Beijing, within 2021–2030."""
    return min(2030, max(2021, beijing_today().year - 1))
