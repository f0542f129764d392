"""Reminders (issue #14): the daily digest to an office of what is due soon or overdue and of
what its children owe, by e-mail (a real aiosmtpd SMTP server on 127.0.0.1) and by webhook (a
real HTTP server on 127.0.0.1, HMAC-SHA256 signed); off by default; each send recorded; a
failed send retried a bounded number of times; never twice for a day and channel, even from
two processes at once; the serve process's periodic task sends it; the API and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from node.config import Settings
from node.db import transaction
from node.errors import BadRequest, Conflict
from node.models import ReminderAttempt, ReminderSend, ReminderSettings
from node.reminders import service
from node.reminders.channels import SIGNATURE_HEADER
from node.runtime import NodeRuntime
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.oversight.test_oversight import _token
from tests.procs import free_port, run_cli
from tests.reports.test_reports_flow import at, file, setup_plans

SH = ZoneInfo("Asia/Shanghai")
TREE = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000"),
        ("150603", "康巴什区", "county", "150600"), ("150602", "东胜区", "county", "150600")]
CITY = "150600"
NOW = datetime(2026, 4, 10, 9, 0, tzinfo=SH)  # after the 2025 reports' due day (03-31)
QUIET: dict[str, Any] = {
    "delivery_loop": False, "pull_interval_seconds": 3600, "reminders_loop": False,
    "reminder_retry_seconds": 0, "reminder_max_attempts": 3, "reminder_timeout_seconds": 5}


# ---- real servers on 127.0.0.1 --------------------------------------------------------------

class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@contextlib.contextmanager
def smtp_server(port: int | None = None) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = port or free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield box, port
    finally:
        ctl.stop()


class Hook:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []


@contextlib.contextmanager
def webhook_server(hook: Hook) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(hook.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    finally:
        srv.shutdown()
        srv.server_close()


# ---- the scenario ---------------------------------------------------------------------------

async def _scenario(c: Cluster) -> None:
    """Plans everywhere; 康巴什区 files its 2025 women's report, 东胜区 files nothing."""
    await setup_plans(c)
    await file(c, "150603", "women", 2025, {"W-HEALTH-01": (2, 10_000)}, at(2026, 3, 20))


async def _configure(rt: NodeRuntime, **changes: Any) -> None:
    async with transaction(rt.sessions) as s:
        await service.configure(session=s, actor="admin", changes=changes)


def _email(port: int, **more: Any) -> dict[str, Any]:
    return {"enabled": True, "send_at": "08:30", "email_enabled": True,
            "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
            "mail_from": "fuer@ordos.example.cn",
            "mail_to": ["zhang@ordos.example.cn", "li@ordos.example.cn"], **more}


async def _attempts(rt: NodeRuntime) -> list[ReminderAttempt]:
    async with rt.sessions() as s:
        return list((await s.scalars(select(ReminderAttempt).order_by(ReminderAttempt.id)))
                    .all())


# ---- tests ----------------------------------------------------------------------------------

async def test_off_by_default_and_bad_settings_change_nothing(tmp_path: Path,
                                                              db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE, settings=Settings(**QUIET)) as c:
        await _scenario(c)
        rt = c.rt(CITY)
        with smtp_server() as (box, port):
            assert await service.run(rt, now=NOW) == []  # off by default
            async with rt.sessions() as s:
                assert (await service.get_settings(s)).enabled is False
                assert await s.get(ReminderSettings, 1) is None
            # settings that cannot work are refused, and nothing is stored
            for bad in ({"enabled": True},  # no channel
                        {"email_enabled": True, "smtp_host": "127.0.0.1"},  # no recipients
                        {**_email(port), "mail_to": ["not-an-address"]},
                        {**_email(port), "send_at": "25:00"},
                        {"webhook_enabled": True, "webhook_url": "ftp://x"},
                        {"horizon_days": 0}, {"colour": "red"}):
                with pytest.raises(BadRequest):
                    await _configure(rt, **bad)
            async with rt.sessions() as s:
                assert await s.get(ReminderSettings, 1) is None
            with pytest.raises(Conflict):  # send-now with no channel on
                await service.run(rt, now=NOW, manual=True)
            # configured but turned off: still nothing; on, before the time of day: nothing
            await _configure(rt, **{**_email(port), "enabled": False})
            assert await service.run(rt, now=NOW) == []
            await _configure(rt, enabled=True, send_at="09:30")
            assert await service.run(rt, now=NOW) == []
            assert box.messages == [] and await _attempts(rt) == []


async def test_email_digest_once_a_day(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE, settings=Settings(**QUIET)) as c:
        await _scenario(c)
        rt = c.rt(CITY)
        with smtp_server() as (box, port):
            await _configure(rt, **_email(port))
            (out,) = await service.run(rt, now=NOW)
            assert (out.channel, out.status, out.attempts) == ("email", "sent", 1)
            assert len(box.messages) == 1
            rcpts, msg = box.messages[0]
            assert rcpts == ["zhang@ordos.example.cn", "li@ordos.example.cn"]
            subject = str(msg["Subject"])
            assert subject.startswith("【妇儿规划提醒】鄂尔多斯市 2026年04月10日")
            body = msg.get_content()
            assert "鄂尔多斯市妇儿工委办" in body
            # its own duty: the city's 2025 report to the province, overdue since 03-31
            assert "2025 年度妇女规划实施情况报告" in body and "已逾期 10 天" in body
            # what its children owe: 东胜区 has not filed, 康巴什区 has (not listed for it)
            assert "东胜区（150602）" in body and "2025年度妇女规划实施情况报告：超期未报" in body
            # the same day again, and a send-now: never a second mail
            assert [o.status for o in await service.run(rt, now=NOW)] == ["skipped"]
            assert [o.status for o in await service.run(rt, now=NOW, manual=True)] == [
                "skipped"]
            assert len(box.messages) == 1
            (rec,) = await _attempts(rt)
            assert rec.status == "sent" and rec.recipients == rcpts and rec.error == ""
            assert rec.content_hash == hashlib.sha256(body.replace("\r\n", "\n").rstrip("\n")
                                                      .encode()).hexdigest()
            # the next day: a new digest
            nxt = NOW.replace(day=11)
            assert [o.status for o in await service.run(rt, now=nxt)] == ["sent"]
            assert len(box.messages) == 2


async def test_webhook_signed_with_hmac(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE, settings=Settings(**QUIET)) as c:
        await _scenario(c)
        rt = c.rt(CITY)
        hook = Hook()
        with webhook_server(hook) as url:
            await _configure(rt, enabled=True, webhook_enabled=True, webhook_url=url,
                             webhook_secret="s3cret-共享")
            (out,) = await service.run(rt, now=NOW)
            assert out.status == "sent" and out.recipients == [url]
        (headers, body), = hook.received
        want = hmac.new("s3cret-共享".encode(), body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER.lower()] == f"sha256={want}"
        assert headers[SIGNATURE_HEADER.lower()] != "sha256=" + hmac.new(
            b"wrong", body, hashlib.sha256).hexdigest()
        data = json.loads(body)
        assert data["node"] == CITY and data["day"] == "2026-04-10"
        assert data["subject"].startswith("【妇儿规划提醒】鄂尔多斯市")
        kids = {k["code"]: k for k in data["children"]}
        owed = {(c, i["filing"], i["status"]) for c, k in kids.items() for i in k["items"]}
        assert ("150602", "2025年度妇女规划实施情况报告", "overdue") in owed
        assert not any(c == "150603" and f == "2025年度妇女规划实施情况报告" for c, f, _ in owed)
        assert data["content_hash"] == hashlib.sha256(data["text"].encode()).hexdigest()
        # the secret is write-only
        async with rt.sessions() as s:
            shown = service.public(await service.get_settings(s))
        assert shown["webhook_secret_set"] is True and "webhook_secret" not in shown


async def test_failures_are_recorded_retried_and_bounded(tmp_path: Path,
                                                         db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE, settings=Settings(**QUIET)) as c:
        await _scenario(c)
        rt = c.rt(CITY)
        port = free_port()  # nothing listens yet: the server is down
        await _configure(rt, **_email(port))
        (o1,) = await service.run(rt, now=NOW)
        assert (o1.status, o1.attempts) == ("failed", 1) and "unreachable" in o1.error
        (o2,) = await service.run(rt, now=NOW)
        assert (o2.status, o2.attempts) == ("failed", 2)
        with smtp_server(port) as (box, _):  # the server is back
            (o3,) = await service.run(rt, now=NOW)
            assert (o3.status, o3.attempts) == ("sent", 3) and len(box.messages) == 1
            assert [o.status for o in await service.run(rt, now=NOW)] == ["skipped"]
        recs = await _attempts(rt)
        assert [r.status for r in recs] == ["failed", "failed", "sent"]
        assert all("unreachable" in r.error for r in recs[:2])
        # a webhook that keeps failing is tried at most reminder_max_attempts times
        hook = Hook(status=500)
        with webhook_server(hook) as url:
            await _configure(rt, email_enabled=False, webhook_enabled=True, webhook_url=url)
            day = NOW.replace(day=12)
            outs = [(await service.run(rt, now=day))[0] for _ in range(5)]
        assert [o.status for o in outs] == ["failed"] * 3 + ["skipped"] * 2
        assert len(hook.received) == 3 and "500" in outs[0].error
        async with rt.sessions() as s:
            st = await service.status(s, rt)  # today is not 04-12; read the row itself
            row = await s.scalar(select(ReminderSend).where(ReminderSend.channel == "webhook"))
        assert row is not None and (row.status, row.attempts) == ("failed", 3)
        assert st["max_attempts"] == 3


async def test_webhook_down_is_recorded(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:2], settings=Settings(**QUIET)) as c:
        await setup_plans(c)
        rt = c.rt(CITY)
        url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        await _configure(rt, enabled=True, webhook_enabled=True, webhook_url=url)
        (o,) = await service.run(rt, now=NOW)
        assert o.status == "failed" and "unreachable" in o.error and o.recipients == [url]
        (rec,) = await _attempts(rt)
        assert (rec.status, rec.channel, rec.recipients) == ("failed", "webhook", [url])
        assert "unreachable" in rec.error and rec.content_hash


async def test_retry_waits_for_its_delay(tmp_path: Path, db_factory: DbFactory) -> None:
    settings = Settings(**{**QUIET, "reminder_retry_seconds": 300})
    async with cluster(tmp_path, db_factory, TREE[:2], settings=settings) as c:
        await setup_plans(c)
        rt = c.rt(CITY)
        await _configure(rt, **_email(free_port()))
        assert [o.status for o in await service.run(rt, now=NOW)] == ["failed"]
        assert [o.status for o in await service.run(rt, now=NOW)] == ["skipped"]  # too soon
        later = NOW.replace(minute=6)
        assert [o.status for o in await service.run(rt, now=later)] == ["failed"]


async def test_two_processes_at_once_send_once(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:2], settings=Settings(**QUIET)) as c:
        await setup_plans(c)
        rt = c.rt(CITY)
        replica = NodeRuntime.open(c.cfgs[CITY], c.settings)  # a second replica, same DB
        try:
            with smtp_server() as (box, port):
                await _configure(rt, **_email(port))
                a, b = await asyncio.gather(service.run(rt, now=NOW),
                                            service.run(replica, now=NOW))
                assert sorted(o.status for o in a + b) == ["sent", "skipped"]
                assert len(box.messages) == 1
        finally:
            await replica.close()
        async with rt.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(ReminderSend)) == 1


async def test_the_serve_process_sends_it(tmp_path: Path, db_factory: DbFactory) -> None:
    settings = Settings(**{**QUIET, "reminders_loop": True, "reminder_check_seconds": 0.2})
    async with cluster(tmp_path, db_factory, TREE[:2], settings=settings) as c:
        await setup_plans(c)
        rt = c.rt(CITY)
        with smtp_server() as (box, port):
            await _configure(rt, **_email(port, send_at="00:00"))
            for _ in range(100):
                if box.messages:
                    break
                await asyncio.sleep(0.1)
            assert len(box.messages) == 1
            await asyncio.sleep(0.6)  # a few more checks: still one
            assert len(box.messages) == 1


async def test_api(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:2], settings=Settings(**QUIET)) as c:
        await setup_plans(c)
        admin = await _token(c, CITY, "admin")
        viewer = await _token(c, CITY, "viewer")
        with smtp_server() as (box, port):
            async with c.client(CITY, viewer) as cl:
                r = await cl.get("/api/v1/reminders/settings")
                assert r.status_code == 200 and r.json()["enabled"] is False
                r = await cl.put("/api/v1/reminders/settings", json={"enabled": True})
                assert r.status_code == 403
            async with c.client(CITY, admin) as cl:
                r = await cl.post("/api/v1/reminders/send-now")
                assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
                for bad in ({"enabled": True}, {"send_at": "8:30"}, {"smtp_port": 0},
                            {"mail_to": ["x"]}, {"nope": 1}):
                    r = await cl.put("/api/v1/reminders/settings", json=bad)
                    assert r.status_code == 400 and r.json()["error"]["code"], bad
                assert (await cl.get("/api/v1/reminders/settings")).json()["enabled"] is False
                r = await cl.put("/api/v1/reminders/settings",
                                 json={**_email(port), "webhook_secret": "k"})
                assert r.status_code == 200, r.text
                got = r.json()
                assert got["enabled"] and got["webhook_secret_set"] and "webhook_secret" not in got
                st = (await cl.get("/api/v1/reminders/status")).json()
                assert st["next_run_at"].endswith("Z") and st["sends"] == []
                pv = (await cl.get("/api/v1/reminders/preview")).json()
                assert pv["subject"].startswith("【妇儿规划提醒】鄂尔多斯市")
                r = await cl.post("/api/v1/reminders/send-now")
                assert r.status_code == 200, r.text
                assert [o["status"] for o in r.json()] == ["sent"]
                assert len(box.messages) == 1
                st = (await cl.get("/api/v1/reminders/status")).json()
                assert [(x["channel"], x["status"]) for x in st["sends"]] == [("email", "sent")]
                log = (await cl.get("/api/v1/reminders/log")).json()
                assert log[0]["trigger"] == "manual" and log[0]["recipients"] == [
                    "zhang@ordos.example.cn", "li@ordos.example.cn"]


async def test_cli(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:2], settings=Settings(**QUIET)) as c:
        await setup_plans(c)
        await _token(c, CITY, "admin")  # the user "admin"
        ddir = str(c.cfgs[CITY].data_dir)
        st = run_cli("reminders", "status", "--data-dir", ddir).stdout
        assert "关闭 off" in st and "尚未发送" in st
        with smtp_server() as (box, port):
            bad = run_cli("reminders", "configure", "--on", "--as", "admin", "--data-dir", ddir,
                          check=False)
            assert bad.returncode != 0 and bad.stderr.startswith("错误 error:")
            assert "Traceback" not in bad.stderr
            nobody = run_cli("reminders", "configure", "--at", "07:00", "--as", "ghost",
                             "--data-dir", ddir, check=False)
            assert nobody.returncode != 0 and "ghost" in nobody.stderr
            out = run_cli("reminders", "configure", "--on", "--email", "--smtp-host",
                          "127.0.0.1", "--smtp-port", str(port), "--smtp-security", "none",
                          "--from", "fuer@ordos.example.cn", "--to", "zhang@ordos.example.cn",
                          "--to", "li@ordos.example.cn", "--at", "07:00", "--as", "admin",
                          "--data-dir", ddir).stdout
            assert "已保存" in out and "开启 on" in out and "07:00" in out
            sent = run_cli("reminders", "send-now", "--as", "admin", "--data-dir", ddir).stdout
            assert "email: 已发送" in sent and len(box.messages) == 1
            again = run_cli("reminders", "send-now", "--as", "admin", "--data-dir", ddir).stdout
            assert "跳过" in again and len(box.messages) == 1
            log = run_cli("reminders", "log", "--data-dir", ddir).stdout
            assert "已发送" in log and "zhang@ordos.example.cn" in log
            st = run_cli("reminders", "status", "--data-dir", ddir).stdout
            assert "今日 email: 已发送" in st
