"""Signing in and out, what a role sees, and the language switch (a county's console)."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.console.conftest import Cluster, Console, field_of, hook, sign_in

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]

COUNTY = "150603"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def county(cluster: Cluster) -> Any:
    office = cluster[COUNTY]
    await office.add_user("bianji", "editor")
    await office.add_user("weijianwei", "member_unit", unit="卫健委")
    return office


async def test_wrong_password_shows_the_servers_error(county: Any, console: Console) -> None:
    # what the server says to a wrong password, in its own words
    said = await county.call("POST", "/api/v1/auth/login", ok=False,
                             json={"name": "bianji", "password": "not-the-password"})
    text = said["error"]["message"]
    page = await console.open(county)
    await expect(page).to_have_url(f"{county.url}/login")  # nobody signed in: the login page
    await sign_in(page, "bianji", "not-the-password")
    await expect(page.locator(hook("login-error"))).to_contain_text(text)
    await expect(page).to_have_url(f"{county.url}/login")
    # both fields are needed: the page says so without asking the server
    await field_of(page, "login-password").fill("")
    await page.locator(hook("login-submit")).click()
    await expect(page.locator(hook("login-error"))).to_contain_text("请输入用户名和密码")


async def test_sign_in_then_logout_returns_to_the_login_page(county: Any,
                                                             console: Console) -> None:
    page = await console.open(county, "bianji")
    await expect(page.locator(hook("header-user"))).to_have_text("bianji")
    await expect(page.locator(hook("header-role"))).to_have_text("编辑")
    await expect(page.locator(hook("header-node"))).to_contain_text(county.name)
    await expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    await page.locator(hook("logout")).click()
    await expect(page).to_have_url(f"{county.url}/login")
    await expect(page.locator(hook("login-submit"))).to_be_visible()
    # the session is over at the server too: a signed-in page sends us back to the login page
    await page.goto("/plans")
    await expect(page).to_have_url(f"{county.url}/login?next=/plans")
    cookies = await page.context.cookies()
    assert not [c for c in cookies if c["name"] == "plansync_session"]


async def test_member_unit_does_not_see_admin_pages(county: Any, console: Console) -> None:
    admin = await console.open(county, "admin")
    await expect(admin.locator(hook("menu-admin"))).to_be_visible()
    page = await console.open(county, "weijianwei")
    await expect(page.locator(hook("header-role"))).to_have_text("成员单位")
    await expect(page.locator(hook("menu-todo"))).to_be_visible()
    await expect(page.locator(hook("menu-admin"))).to_have_count(0)
    await expect(page.locator(hook("menu"))).not_to_contain_text("系统")
    # a county has no children: no 下级报送 / 下级节点 for anyone there
    await expect(page.locator(hook("menu-filingsChildren"))).to_have_count(0)
    # typing the address does not help: no users, no tokens, no key buttons for them (and
    # the server refuses the users list to them anyway)
    await page.goto("/admin")
    await expect(page.locator(hook("menu"))).to_be_visible()
    for h in ("users-table", "user-create", "tokens-table", "key-rotate", "audit-table"):
        await expect(page.locator(hook(h))).to_have_count(0)
    await expect(page.locator("body")).not_to_contain_text("bianji")
    users = await county.call("GET", "/api/v1/users", as_user="weijianwei", ok=False)
    assert users["error"]["code"] == "forbidden"


async def test_switching_to_english_changes_the_menu(county: Any, console: Console) -> None:
    page = await console.open(county, "bianji")
    menu = page.locator(hook("menu"))
    await expect(menu).to_contain_text("工作台")
    await expect(menu).to_contain_text("年度报告")
    await page.locator(hook("lang")).click()
    await page.locator(".el-select-dropdown__item").filter(has_text="English").click()
    await expect(menu).to_contain_text("To do")
    await expect(menu).to_contain_text("Annual reports")
    await expect(menu).not_to_contain_text("工作台")
    await expect(page.locator(hook("logout"))).to_have_text("Sign out")
    # the choice is remembered by this browser
    await page.reload()
    await expect(menu).to_contain_text("Plans")
    # and on the login page the same switch is there before signing in
    await page.locator(hook("logout")).click()
    await expect(page.locator(hook("login-submit"))).to_have_text("Sign in")
    await page.locator(hook("login-lang")).get_by_text("中文").click()
    await expect(page.locator(hook("login-submit"))).to_have_text("登录")
