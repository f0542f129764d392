"""Province → city → two counties: release, draft, check, publish, file, return, refile, revise."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.errors import Forbidden
from node.models import Filing, Framework, LedgerEntry, SentFiling
from node.plans import service
from node.plans.dates import plan_filing_due
from node.plans.document import PlanDocument, parse_document
from node.plans.sheets import load_file
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE


def today() -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def draft_and_approve(c: Cluster, code: str, doc: PlanDocument, title: str) -> str:
    rt = c.rt(code)
    async with transaction(rt.sessions) as s:
        pid = service.plan_id_for(code, "women")
        if await s.get(service.Plan, pid) is None:
            await service.create_plan(session=s, code=code, kind="women", title=title,
                                      document=doc, actor="editor")
        else:
            await service.update_document(session=s, plan_id=pid, document=doc, actor="editor")
        for step in ("consultation", "expert_review", "submit"):
            await service.advance(session=s, plan_id=pid, step=step, actor="editor")
        await service.advance(session=s, plan_id=pid, step="approve", actor="director")
    return pid


async def publish(c: Cluster, code: str, pid: str, released: date,
                  override: str | None = None) -> None:
    rt = c.rt(code)
    async with transaction(rt.sessions) as s:
        await service.publish(session=s, rt=rt, plan_id=pid, released_on=released,
                              actor="director", is_admin=True, override_reason=override)
    await c.settle()  # delivery was kicked after the commit


async def rows(c: Cluster, code: str, model: Any) -> list[Any]:
    async with c.rt(code).sessions() as s:
        return list((await s.scalars(select(model))).all())


def tighten(doc: PlanDocument, code: str, target: float) -> PlanDocument:
    return PlanDocument(areas=doc.areas, indicators=[
        i.model_copy(update={"target": target}) if i.code == code else i
        for i in doc.indicators])


async def test_workflow_roles_over_the_api(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, [("150000", "内蒙古自治区", "province", None)]) as c:
        rt = c.rt("150000")
        tokens = {}
        async with transaction(rt.sessions) as s:
            for name, role in [("ed", "editor"), ("rev", "reviewer"), ("rev2", "reviewer"),
                               ("unit", "member_unit"), ("view", "viewer")]:
                u = await create_user(session=s, name=name, role=role, password=None,
                                      actor="t", unit="卫健委" if name == "unit" else None)
                tokens[name] = await issue_token(session=s, user=u, label="t", actor="t")
        H = {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}  # noqa: N806
        async with c.client("150000") as cl:
            sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
            r = await cl.post("/api/v1/plans/import", headers=H["view"],
                              json={"kind": "women", "title": "t", "document": sample})
            assert r.status_code == 403
            r = await cl.post("/api/v1/plans/import", headers=H["ed"], json={
                "kind": "women", "title": "内蒙古妇女发展规划", "document": sample})
            assert r.status_code == 201 and r.json()["indicators"] == 5
            pid = r.json()["id"]
            assert (await cl.post(f"/api/v1/plans/{pid}/steps/consultation",
                                  headers=H["ed"])).status_code == 200
            r = await cl.post(f"/api/v1/plans/{pid}/comments", headers=H["unit"],
                              json={"unit": "卫健委", "text": "孕产妇死亡率目标建议保持"})
            assert r.status_code == 201 and r.json()["round"] == 1
            for step in ("consultation", "consultation"):
                assert (await cl.post(f"/api/v1/plans/{pid}/steps/{step}",
                                      headers=H["ed"])).status_code == 200
            r = await cl.post(f"/api/v1/plans/{pid}/steps/consultation", headers=H["ed"])
            assert r.status_code == 409  # at most three rounds
            for step in ("expert_review",):
                assert (await cl.post(f"/api/v1/plans/{pid}/steps/{step}",
                                      headers=H["ed"])).status_code == 200
            r = await cl.post(f"/api/v1/plans/{pid}/steps/approve", headers=H["ed"])
            assert r.status_code == 403  # an editor cannot approve
            assert (await cl.post(f"/api/v1/plans/{pid}/steps/submit",
                                  headers=H["rev"])).status_code == 403
            async with transaction(rt.sessions) as s:  # a reviewer who submits...
                await service.advance(session=s, plan_id=pid, step="submit", actor="rev")
            r = await cl.post(f"/api/v1/plans/{pid}/steps/approve", headers=H["rev"])
            assert r.status_code == 403 and "may not approve" in r.json()["error"]["message"]
            assert (await cl.post(f"/api/v1/plans/{pid}/steps/approve",
                                  headers=H["rev2"])).status_code == 200
            r = await cl.post(f"/api/v1/plans/{pid}/publish", headers=H["rev2"],
                              json={"released_on": "2021-12-30"})
            assert r.status_code == 200 and r.json()["version"] == 1
            detail = (await cl.get(f"/api/v1/plans/{pid}", headers=H["view"])).json()
            assert [h["step"] for h in detail["history"]] == [
                "create", "consultation", "consultation", "consultation", "expert_review",
                "submit", "approve", "publish"]
            assert detail["comments"][0]["unit"] == "卫健委"
            r = await cl.get(f"/api/v1/plans/{pid}/export?format=xlsx&version=1",
                             headers=H["view"])
            assert r.status_code == 200 and r.content[:2] == b"PK"


async def test_release_file_return_refile_revise(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory) as c:
        # the province releases its framework (from the sample data)
        prov_doc = load_file(SAMPLE, "women")
        ppid = await draft_and_approve(c, "150000", prov_doc, "内蒙古自治区妇女发展规划")
        await publish(c, "150000", ppid, today() - timedelta(days=90))
        for code in ("150600", "150603", "150602"):
            (fw,) = await rows(c, code, Framework)
            assert (fw.origin, fw.version) == ("150000", 1)
            assert len(fw.diff["added"]) == 5 and fw.diff["previous_version"] is None

        # the city tightens one target, publishes: files with the province, releases down
        city_doc = tighten(prov_doc, "W-HEALTH-01", 10)
        cpid = await draft_and_approve(c, "150600", city_doc, "鄂尔多斯市妇女发展规划")
        await publish(c, "150600", cpid, today())
        (f,) = await rows(c, "150000", Filing)
        assert (f.filer, f.outcome, f.late_days) == ("150600", "accepted", 0)
        (sent,) = await rows(c, "150600", SentFiling)
        assert sent.outcome == "accepted" and sent.receipt["timeliness"] == "on_time"

        # county 150603 copies the city's plan and files on time
        kpid = await draft_and_approve(c, "150603", city_doc, "康巴什区妇女发展规划")
        await publish(c, "150603", kpid, today())
        # county 150602 weakens a target: publishing is blocked, then overridden by an admin
        weak = tighten(city_doc, "W-HEALTH-01", 11)
        dpid = await draft_and_approve(c, "150602", weak, "东胜区妇女发展规划")
        async with transaction(c.rt("150602").sessions) as s:
            with pytest.raises(service.ComplianceFailed) as e:
                await service.publish(session=s, rt=c.rt("150602"), plan_id=dpid,
                                      released_on=today() - timedelta(days=60), actor="d",
                                      is_admin=True)
            assert [(x.ancestor, x.indicator, x.reason) for x in e.value.findings] == [
                ("150600", "W-HEALTH-01", "weaker")]
            with pytest.raises(Forbidden):
                await service.publish(session=s, rt=c.rt("150602"), plan_id=dpid,
                                      released_on=today(), actor="d", is_admin=False,
                                      override_reason="local conditions")
        await publish(c, "150602", dpid, today() - timedelta(days=60),
                      override="本地基数较高，分两步达标")
        by_filer = {f.filer: f for f in await rows(c, "150600", Filing)}
        assert by_filer["150603"].outcome == "accepted" and by_filer["150603"].late_days == 0
        returned = by_filer["150602"]
        expected_late = (today() - plan_filing_due(today() - timedelta(days=60))).days
        assert expected_late > 25
        assert returned.outcome == "returned" and returned.late_days == expected_late
        assert returned.findings[0]["indicator"] == "W-HEALTH-01"
        sent = {s.plan_id: s for s in await rows(c, "150602", SentFiling)}[dpid]
        assert sent.outcome == "returned" and "weaker" in sent.receipt["reasons"]
        assert sent.receipt["findings"][0]["reason"] == "weaker"

        # it fixes the target and refiles: accepted, still late against the original due date
        async with transaction(c.rt("150602").sessions) as s:
            await service.revise(session=s, plan_id=dpid, actor="editor")
        await draft_and_approve(c, "150602", city_doc, "东胜区妇女发展规划")
        await publish(c, "150602", dpid, today())
        refiled = [f for f in await rows(c, "150600", Filing) if f.refiling_of == returned.id]
        assert len(refiled) == 1 and refiled[0].outcome == "accepted"
        assert refiled[0].due_on == returned.due_on and refiled[0].late_days == expected_late
        # the ledger reached the province, even though it was the city that received
        ledger = await rows(c, "150000", LedgerEntry)
        assert sorted((e.filer, e.outcome) for e in ledger) == [
            ("150600", "accepted"), ("150602", "accepted"), ("150602", "returned"),
            ("150603", "accepted")]

        # the province raises a target: every descendant sees the diff and what it breaks
        async with transaction(c.rt("150000").sessions) as s:
            await service.revise(session=s, plan_id=ppid, actor="editor")
        await draft_and_approve(c, "150000", tighten(prov_doc, "W-HEALTH-01", 9),
                                "内蒙古自治区妇女发展规划")
        await publish(c, "150000", ppid, today())
        for code in ("150603", "150602"):
            v2 = [f for f in await rows(c, code, Framework)
                  if f.origin == "150000" and f.version == 2]
            assert len(v2) == 1
            assert v2[0].diff["changed"] == [{"code": "W-HEALTH-01", "name": "孕产妇死亡率",
                                              "fields": ["target"], "from": "< 12 1/10万",
                                              "to": "< 9 1/10万"}]
            assert [(b["indicator"], b["reason"]) for b in v2[0].breaks] == [
                ("W-HEALTH-01", "weaker")]
        # and the province still has every version
        async with c.rt("150603").sessions() as s:
            check = await service.check_plan(session=s, rt=c.rt("150603"), plan_id=kpid)
        assert not check["ok"] and {f["ancestor"] for f in check["findings"]} == {"150000"}
        assert parse_document((await rows(c, "150603", Framework))[0].document)


async def test_bad_framework_document_is_rejected_and_changes_nothing(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from sync import seal
    from tests.protocol_helpers import counts

    async with cluster(tmp_path, db_factory, [("150000", "内蒙古自治区", "province", None),
                                               ("150600", "鄂尔多斯市", "city", "150000")]) as c:
        body = {"framework_id": "150000-women", "kind": "women", "version": 1, "title": "t",
                "released_on": "2022-01-01",
                "document": {"indicators": [{"code": "A", "name": "a", "area": "x",
                                             "comparator": "about", "target": 1,
                                             "direction": "lower_is_better"}]}}
        env = seal(signer=c.rt("150000").signer, origin="150000", type="framework.release",
                   recipient="150000", scope="subtree", body=body)
        before = await counts(c, "150600")
        async with c.client("150600") as cl:
            r = (await cl.post("/sync/v1/envelopes", json={"envelopes": [env]})).json()
        err = r["results"][0]["error"]
        assert err["code"] == "schema_violation"
        assert err["pointer"] == "/body/document/indicators/0/comparator"
        assert await counts(c, "150600") == before
        assert await rows(c, "150600", Framework) == []


async def test_child_enrolled_later_receives_frameworks_in_force(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, [("150000", "内蒙古自治区", "province", None),
                                               ("150600", "鄂尔多斯市", "city", "150000"),
                                               ("150603", "康巴什区", "county", "150600")],
                       enrol=False) as c:
        await c.enrol("150000", "150600")
        await c.settle()
        doc = load_file(SAMPLE, "women")
        pid = await draft_and_approve(c, "150000", doc, "内蒙古")
        await publish(c, "150000", pid, today())
        cpid = await draft_and_approve(c, "150600", doc, "鄂尔多斯")
        await publish(c, "150600", cpid, today())
        await c.enrol("150600", "150603")  # after both releases
        await c.settle()
        got = sorted((f.origin, f.version) for f in await rows(c, "150603", Framework))
        assert got == [("150000", 1), ("150600", 1)]
