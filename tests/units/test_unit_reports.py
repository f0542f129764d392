"""Member units' yearly reports to their office (成员单位年度报告, seeds 002 and 004, issue
#14): due date, status per unit, chase list, return with a reason, a member unit only for
itself, the office's report drafted from the accepted ones without overwriting, the to-do —
on SQLite and PostgreSQL, through the API and the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.errors import BadRequest, Forbidden
from node.models import Report, ReportNarrative, User
from node.plans import service as plans
from node.plans.sheets import load_file
from node.units import service
from sync import utcnow
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

PROV: list[tuple[str, str, str, str | None]] = [("150000", "内蒙古自治区", "province", None)]
SH = ZoneInfo("Asia/Shanghai")
BASE = "/api/v1/unit-reports/women/2024"
IMPL, NEXT = "全年开展孕产妇健康管理。", "2025 年继续推进妇女健康行动。"


async def _setup(c: Cluster, due: str = "03-31") -> dict[str, dict[str, str]]:
    doc = load_file(SAMPLE, "women")
    units = {"妇女与健康": ("卫健委", ["医保局"]), "妇女与经济": ("人社局", [])}
    doc = doc.model_copy(update={"annual_report_due": due, "indicators": [
        i.model_copy(update={"lead_unit": units[i.area][0],
                             "responsible_units": units[i.area][1]})
        if i.area in units else i for i in doc.indicators]})
    out = {}
    async with transaction(c.rt("150000").sessions) as s:
        await plans.create_plan(session=s, code="150000", kind="women", title="t",
                                document=doc, actor="t")
        for name, role, unit in [("editor", "editor", None), ("director", "reviewer", None),
                                 ("wjw", "member_unit", "卫健委"),
                                 ("rsj", "member_unit", "人社局"),
                                 ("tjj", "member_unit", "统计局")]:
            u = await create_user(session=s, name=name, role=role, password=None, actor="t",
                                  unit=unit)
            out[name] = {"Authorization": "Bearer " + await issue_token(
                session=s, user=u, label="t", actor="t")}
    return out


def _by_unit(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["unit"]: u for u in body["units"]}


async def test_due_date_is_lead_days_before_the_offices_own(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, PROV) as c:
        await _setup(c, due="02-29")
        async with transaction(c.rt("150000").sessions) as s:
            # the office's 2024 report: 2025-02-29 does not exist → 02-28; 30 days before
            assert await service.unit_due(s, "150000", "women", 2024) == date(2025, 1, 29)
            assert await service.unit_due(s, "150000", "women", 2023, 10) == date(2024, 2, 19)
            assert await service.unit_due(s, "150000", "women", 2024, 0) == date(2025, 2, 28)


async def test_status_chase_return_and_own_unit_only(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _setup(c)
        today = utcnow().astimezone(SH).date()
        overdue = (today - date(2025, 3, 1)).days
        async with c.client("150000") as cl:
            r = await cl.get(BASE, headers=h["director"])
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["due_on"] == "2025-03-01"
            # the units: the member-unit users' and those the plan names (医保局), not the office
            units = _by_unit(body)
            assert set(units) == {"卫健委", "人社局", "统计局", "医保局"}
            assert {u["status"] for u in units.values()} == {"not_submitted"}
            assert units["卫健委"]["overdue_days"] == overdue and units["卫健委"]["late"]
            assert len(body["chase"]) == 4

            # a member unit submits its own report (late), and only its own
            ok = {"implementation": IMPL, "next_year": NEXT}
            r = await cl.put(f"{BASE}/units/卫健委", json=ok, headers=h["wjw"])
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "submitted" and r.json()["overdue_days"] == overdue
            r = await cl.put(f"{BASE}/units/人社局", json=ok, headers=h["wjw"])
            assert r.status_code == 403
            assert (await cl.get(f"{BASE}/units/人社局", headers=h["wjw"])).status_code == 403
            # the level prefix is the same unit
            assert (await cl.get(f"{BASE}/units/市卫健委", headers=h["wjw"])).status_code == 200
            mine = (await cl.get(BASE, headers=h["wjw"])).json()
            assert [u["unit"] for u in mine["units"]] == ["卫健委"]
            # pending with the office: no second submission; empty text refused
            r = await cl.put(f"{BASE}/units/卫健委", json=ok, headers=h["wjw"])
            assert r.status_code == 409
            r = await cl.put(f"{BASE}/units/人社局", json={"implementation": " ",
                                                         "next_year": NEXT}, headers=h["rsj"])
            assert r.status_code == 400
            r = await cl.put(f"{BASE}/units/外交部", json=ok, headers=h["editor"])
            assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_unit"

            # 人社局 submits; the director returns it with a reason (a reason is required)
            assert (await cl.put(f"{BASE}/units/人社局", json=ok,
                                 headers=h["rsj"])).status_code == 200
            r = await cl.post(f"{BASE}/units/人社局/return", json={"reason": ""},
                              headers=h["director"])
            assert r.status_code == 400
            r = await cl.post(f"{BASE}/units/人社局/return", json={"reason": "缺少数据来源"},
                              headers=h["editor"])
            assert r.status_code == 403  # an editor does not decide
            r = await cl.post(f"{BASE}/units/人社局/return", json={"reason": "缺少数据来源"},
                              headers=h["director"])
            assert r.status_code == 200 and r.json()["status"] == "returned"
            assert (await cl.post(f"{BASE}/units/统计局/accept",
                                  headers=h["director"])).status_code == 404
            # accepted is final
            assert (await cl.post(f"{BASE}/units/卫健委/accept",
                                  headers=h["director"])).status_code == 200
            r = await cl.put(f"{BASE}/units/卫健委", json=ok, headers=h["wjw"])
            assert r.status_code == 409
            assert (await cl.post(f"{BASE}/units/卫健委/return", json={"reason": "x"},
                                  headers=h["director"])).status_code == 409

            body = (await cl.get(BASE, headers=h["director"])).json()
            units = _by_unit(body)
            assert units["卫健委"]["status"] == "accepted"
            assert units["人社局"]["status"] == "returned"
            assert units["人社局"]["return_reason"] == "缺少数据来源"
            # the chase list: the returned unit and those that never submitted, not 卫健委
            assert {u["unit"] for u in body["chase"]} == {"人社局", "统计局", "医保局"}
            # the returned unit sees why, and resubmits (the clock kept running)
            own = (await cl.get(f"{BASE}/units/人社局", headers=h["rsj"])).json()
            assert own["return_reason"] == "缺少数据来源" and own["late"]
            assert (await cl.put(f"{BASE}/units/人社局", json=ok,
                                 headers=h["rsj"])).status_code == 200
            body = (await cl.get(BASE, headers=h["director"])).json()
            assert {u["unit"] for u in body["chase"]} == {"统计局", "医保局"}

            # the office's 工作台 lists the late units (not for a member unit)
            todo = (await cl.get("/api/v1/todo", headers=h["director"])).json()
            late = {t["title"] for t in todo if t["kind"] == "unit_late"}
            assert any(t.startswith("统计局：2024") for t in late)
            assert not any(t.startswith("卫健委：2024") for t in late)
            todo = (await cl.get("/api/v1/todo", headers=h["wjw"])).json()
            assert not [t for t in todo if t["kind"] == "unit_late"]


async def test_the_offices_report_is_drafted_from_accepted_units_never_overwritten(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _setup(c)
        async with c.client("150000") as cl:
            r = await cl.post(f"{BASE}/draft", headers=h["editor"])
            assert r.status_code == 409  # nothing accepted yet
            for unit, who in (("卫健委", "wjw"), ("人社局", "rsj"), ("统计局", "tjj")):
                assert (await cl.put(f"{BASE}/units/{unit}", json={
                    "implementation": f"{unit}：{IMPL}", "next_year": f"{unit}：{NEXT}"},
                    headers=h[who])).status_code == 200
            for unit in ("卫健委", "统计局"):
                assert (await cl.post(f"{BASE}/units/{unit}/accept",
                                      headers=h["director"])).status_code == 200
            # the office has written its own economy text: it stays
            r = await cl.put("/api/v1/reports/women/2024/narratives/妇女与经济",
                             json={"text": "本办撰写"}, headers=h["editor"])
            assert r.status_code == 200
            assert (await cl.post(f"{BASE}/draft", headers=h["wjw"])).status_code == 403
            r = await cl.post(f"{BASE}/draft", headers=h["editor"])
            assert r.status_code == 200, r.text
            d = r.json()
            assert d["filled"] == ["妇女与健康"] and d["next_year"] == "filled"
            assert d["unplaced"] == ["统计局"]  # it leads no area of the plan
            # 人社局 accepted later: its area has the office's text, which is kept
            assert (await cl.post(f"{BASE}/units/人社局/accept",
                                  headers=h["director"])).status_code == 200
            # the office edits the draft; a second draft keeps every edit
            r = await cl.put("/api/v1/reports/women/2024/narratives/妇女与健康",
                             json={"text": "办公室修改后的文字"}, headers=h["editor"])
            assert r.status_code == 200
            d = (await cl.post(f"{BASE}/draft", headers=h["editor"])).json()
            assert d["filled"] == [] and set(d["skipped"]) == {"妇女与健康", "妇女与经济"}
            assert d["next_year"] == "skipped"
        async with transaction(c.rt("150000").sessions) as s:
            texts = {n.area: n.text for n in (await s.scalars(select(ReportNarrative))).all()}
            assert texts == {"妇女与健康": "办公室修改后的文字", "妇女与经济": "本办撰写"}
            rep = await s.get(Report, "150000-women-2024")
            assert rep is not None
            assert rep.next_year == f"【卫健委】卫健委：{NEXT}\n【统计局】统计局：{NEXT}"


async def test_service_rules_directly(tmp_path: Path, db_factory: DbFactory) -> None:
    """The same rules without HTTP: a member unit only for itself, late days on the local
    calendar, a viewer submits nothing."""
    async with cluster(tmp_path, db_factory, PROV) as c:
        await _setup(c)
        async with transaction(c.rt("150000").sessions) as s:
            wjw = await s.scalar(select(User).where(User.name == "wjw"))
            assert wjw is not None
            viewer = User(name="v", role="viewer", unit=None)
            # submitted on the due day itself (Beijing time, late evening): on time
            at = datetime(2025, 3, 1, 23, 30, tzinfo=SH).astimezone(UTC)
            st = await service.submit(session=s, code="150000", kind="women", year=2024,
                                      unit="卫健委", implementation=IMPL, next_year=NEXT,
                                      user=wjw, now=at, zone=SH)
            assert st.overdue_days == 0 and not st.late
            for user, unit, err in [(wjw, "人社局", Forbidden), (viewer, "人社局", Forbidden)]:
                try:
                    await service.submit(session=s, code="150000", kind="women", year=2024,
                                         unit=unit, implementation=IMPL, next_year=NEXT,
                                         user=user, now=at + timedelta(days=1), zone=SH)
                except err:
                    pass
                else:
                    raise AssertionError(f"{user.name} submitted for {unit}")
            try:
                await service.statuses(session=s, code="150000", kind="women", year=2031,
                                       user=wjw, today=date(2026, 1, 1))
            except BadRequest:
                pass
            else:
                raise AssertionError("year 2031 accepted")
