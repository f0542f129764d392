"""Reminders through the console (系统 · 提醒): the city's admin finds them off, is refused a
time that is none (and nothing changes), turns e-mail on against a real SMTP server on
127.0.0.1, previews the digest, sends it now — the mail arrives once, and the record shows it
in Beijing time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.console.conftest import Cluster, Console, field_of, hook, message, report_year
from tests.paths import SAMPLE
from tests.reminders.test_reminders import smtp_server

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

CITY = "150600"


async def test_admin_configures_previews_and_sends(cluster: Cluster, console: Console) -> None:
    city = cluster[CITY]
    with smtp_server() as (box, port):
        page: Any = await console.open(city, "admin", path="/admin")
        await page.locator("#tab-reminders").click()
        panel = page.locator(hook("reminders-panel"))
        await expect(panel.locator(hook("reminders-state"))).to_have_text("未开启")
        await expect(panel).to_contain_text("今日尚未发送")

        # a time of day that is none: refused with the server's words, nothing saved
        await field_of(page, "reminders-at").fill("25:00")
        await page.locator(hook("reminders-save")).click()
        await expect(message(page, "send_at")).to_be_visible()
        got = await city.call("GET", "/api/v1/reminders/settings")
        assert got["send_at"] == "08:30" and got["enabled"] is False

        # e-mail on, against the real server
        await field_of(page, "reminders-at").fill("23:59")
        await page.locator(hook("reminders-enabled")).click()
        await page.locator(hook("reminders-email")).click()
        await field_of(page, "reminders-smtp-host").fill("127.0.0.1")
        await field_of(page, "reminders-smtp-port").fill(str(port))
        await page.locator(hook("reminders-smtp-security")).click()
        await page.locator(".el-select-dropdown__item").filter(has_text="不加密").click()
        await field_of(page, "reminders-from").fill("fuer@ordos.example.cn")
        await field_of(page, "reminders-to").fill("zhang@ordos.example.cn\nli@ordos.example.cn")
        await page.locator(hook("reminders-save")).click()
        await expect(panel.locator(hook("reminders-state"))).to_have_text("已开启")
        await expect(panel.locator(hook("reminders-next-run"))).to_contain_text("23:59")
        got = await city.call("GET", "/api/v1/reminders/settings")
        assert got["enabled"] and got["email_enabled"] and got["smtp_port"] == port
        assert got["mail_to"] == ["zhang@ordos.example.cn", "li@ordos.example.cn"]

        # the preview says what the mail will say
        await page.locator(hook("reminders-preview")).click()
        dialog = page.locator(hook("reminders-preview-dialog"))
        await expect(dialog.locator(hook("reminders-preview-subject"))).to_contain_text(
            "【妇儿规划提醒】鄂尔多斯市")
        await expect(dialog.locator(hook("reminders-preview-text"))).to_contain_text(
            "鄂尔多斯市妇儿工委办")
        await dialog.get_by_role("button", name="关闭", exact=True).click()

        # send now: one mail, recorded; a second click sends nothing more
        await page.locator(hook("reminders-send-now")).click()
        log = page.locator(hook("reminders-log"))
        sent = log.locator(hook("reminders-log-status", '[data-status="sent"]'))
        await expect(sent).to_have_count(1)
        await expect(panel.locator(hook("reminders-today", '[data-status="sent"]'))).to_be_visible()
        for _ in range(50):
            if box.messages:
                break
            await asyncio.sleep(0.1)
        assert len(box.messages) == 1
        rcpts, msg = box.messages[0]
        assert rcpts == ["zhang@ordos.example.cn", "li@ordos.example.cn"]
        assert str(msg["Subject"]).startswith("【妇儿规划提醒】鄂尔多斯市")
        await page.locator(hook("reminders-send-now")).click()
        await expect(message(page, "今日已发送")).to_be_visible()
        assert len(box.messages) == 1
        await expect(log).to_contain_text("zhang@ordos.example.cn")


async def test_report_page_downloads_the_monitoring_report(cluster: Cluster,
                                                           console: Console) -> None:
    """年度报告 → 下载监测报告 (.docx): the link gives the document of the page's kind and year,
    with its Chinese file name, to the signed-in browser session."""
    import io

    import docx

    county = cluster["150603"]
    year = report_year()
    doc = json.loads(SAMPLE.read_text("utf-8"))
    await county.call("POST", "/api/v1/plans/import", json={
        "kind": "women", "title": "康巴什区妇女发展规划", "document": doc})
    await county.call("PUT", f"/api/v1/reports/women/{year}/values/W-HEALTH-01",
                      json={"numerator": 1, "denominator": 10_000})
    page: Any = await console.open(county, "admin", path=f"/reports/women/{year}")
    link = page.locator(hook("report-document"))
    await expect(link).to_have_attribute("href", f"/api/v1/reports/women/{year}/document")
    await expect(link).to_contain_text("下载监测报告")
    async with page.expect_download() as dl:
        await link.click()
    got = await dl.value
    assert got.suggested_filename == f"康巴什区{year}年妇女发展规划监测报告.docx"
    d = docx.Document(io.BytesIO(Path(await got.path()).read_bytes()))
    table = next(t for t in d.tables if t.rows[0].cells[0].text == "指标编码")
    mmr = next(r for r in table.rows if r.cells[0].text == "W-HEALTH-01")
    assert mmr.cells[4].text == "10"  # 1 / 10,000 per 100,000
