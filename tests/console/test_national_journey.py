"""The national level in the console (issue #14): at the national node 000000 国务院妇儿工委
the header says 国家级, 概览's tree opens on the 34 provincial-level units of the division tree
(the enrolled 内蒙古 with its city below it, the others 未接入), and the rates per level say
省级/市级/县级. Real `plansync serve` processes: 000000 → 150000 → 150600."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import expect

from node.divisions import NATIONAL, division_children
from node.lab.harness import ProcessCluster, pick
from tests.console.conftest import FAST, Console, Office, hook

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def national(console_build: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> AsyncIterator[Office]:
    env = {**FAST, "PLANSYNC_CONSOLE_DIR": str(console_build)}
    c = await ProcessCluster.create(tmp_path_factory.mktemp("national") / "c",
                                    pick("150600", depth=0, national=True), env=env)
    try:
        await c.start_all()
        await c.enrol_all()
        m = c.members[NATIONAL]
        yield Office(m.code, m.name, m.level, m.url, m.token)
    finally:
        c.stop_all()


async def test_the_national_overview_shows_the_provinces(national: Office,
                                                         console: Console) -> None:
    await national.add_user("guojia", "auditor")
    await national.wait_for("the city announced by the province", "/api/v1/oversight/offices",
                            lambda got: any(o["code"] == "150600" for o in got))
    page = await console.open(national, "guojia", path="/overview")
    header = page.locator(hook("header-node"))
    await expect(header).to_contain_text("国务院妇儿工委")
    await expect(header).to_contain_text("国家级")
    tree = page.locator(hook("overview-tree"))
    provinces = tree.locator(hook("tree-node", '[data-level="province"]'))
    await expect(provinces).to_have_count(len(division_children()[NATIONAL]))  # 34
    mongolia = tree.locator(hook("tree-node", '[data-code="150000"]'))
    await expect(mongolia).to_contain_text("内蒙古自治区")
    # the provinces are open: the enrolled city under 内蒙古 shows without a click
    await expect(tree.locator(hook("tree-node", '[data-code="150600"]'))).to_be_visible()
    beijing = tree.locator(hook("tree-node", '[data-code="110000"]'))
    await expect(beijing).to_have_attribute("data-status", "not_enrolled")
    await expect(beijing).to_contain_text("未接入")
    rates = page.locator(hook("overview-rate", '[data-level="province"]'))
    await expect(rates.first).to_have_text("省级")
    assert not console.foreign_requests()
