"""The offices' rules at their edges (issue #14, "Wrong today"): refiling after an accepted
refiling, the annual report due day, units at import, the drafting workflow's actors and
rounds, and what an import may not do silently."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.models import Filing, Plan, PlanComment
from node.plans import service
from node.plans.dates import annual_report_due, plan_filing_due
from node.plans.document import DocumentError, parse_document
from node.plans.sheets import load_file, write_xlsx
from node.plans.units import normalise, scale_of
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.plans.test_plans_flow import draft_and_approve, publish, rows, tighten, today
from tests.procs import run_cli

PROV = [("150000", "内蒙古自治区", "province", None)]


async def _tokens(c: Cluster, code: str, users: list[tuple[str, str, str | None]]
                  ) -> dict[str, dict[str, str]]:
    out = {}
    async with transaction(c.rt(code).sessions) as s:
        for name, role, unit in users:
            u = await create_user(session=s, name=name, role=role, password=None, actor="t",
                                  unit=unit)
            out[name] = {"Authorization": "Bearer " + await issue_token(
                session=s, user=u, label="t", actor="t")}
    return out


def _err(r: Any, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    err: dict[str, str] = r.json()["error"]
    return err


# ---- 1. refiling ---------------------------------------------------------------------------

async def test_revision_after_an_accepted_refiling_is_a_new_filing(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    tree = [("150000", "内蒙古自治区", "province", None),
            ("150600", "鄂尔多斯市", "city", "150000")]
    async with cluster(tmp_path, db_factory, tree) as c:
        doc = load_file(SAMPLE, "women")
        await publish(c, "150000", await draft_and_approve(c, "150000", doc, "p"),
                      today() - timedelta(days=400))
        cpid = await draft_and_approve(c, "150600", tighten(doc, "W-HEALTH-01", 13), "c")
        await publish(c, "150600", cpid, today() - timedelta(days=300), override="x")
        (returned,) = await rows(c, "150000", Filing)
        assert returned.outcome == "returned"
        async with transaction(c.rt("150600").sessions) as s:  # fixed and refiled: accepted
            await service.revise(session=s, plan_id=cpid, actor="e")
        await draft_and_approve(c, "150600", doc, "c")
        await publish(c, "150600", cpid, today() - timedelta(days=200))
        # a later revision, released today: its own due date, not the returned one's
        async with transaction(c.rt("150600").sessions) as s:
            await service.revise(session=s, plan_id=cpid, actor="e")
        await draft_and_approve(c, "150600", tighten(doc, "W-HEALTH-01", 11), "c")
        await publish(c, "150600", cpid, today())
        filings = sorted(await rows(c, "150000", Filing), key=lambda f: f.version)
        assert [(f.version, f.outcome) for f in filings] == [
            (1, "returned"), (2, "accepted"), (3, "accepted")]
        assert filings[1].refiling_of == returned.id and filings[1].due_on == returned.due_on
        assert filings[2].refiling_of is None
        assert filings[2].due_on == plan_filing_due(today()) and filings[2].late_days == 0


# ---- 2. the annual report due day ----------------------------------------------------------

def test_annual_report_due_day_is_a_real_month_day_and_clamps() -> None:
    assert annual_report_due(2024, "02-29") == date(2025, 2, 28)  # a common year
    assert annual_report_due(2023, "02-29") == date(2024, 2, 29)
    for bad in ("13-45", "02-30", "00-10", "04-31"):
        with pytest.raises(DocumentError, match="not a month-day") as e:
            parse_document({"annual_report_due": bad})
        assert e.value.location == "/annual_report_due"
    assert parse_document({"annual_report_due": "02-29"}).annual_report_due == "02-29"


async def test_import_refuses_a_due_day_that_is_no_day(tmp_path: Path,
                                                       db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _tokens(c, "150000", [("ed", "editor", None)])
        async with c.client("150000") as cl:
            r = await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t",
                "document": {"areas": [], "annual_report_due": "13-45", "indicators": []}})
            err = _err(r, 400)
            assert "13-45" in err["message"] and "年报截止日" in err["message"]
            r = await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t",
                "document": {"areas": [], "annual_report_due": "02-29", "indicators": []}})
            assert r.status_code == 201, r.text
        async with c.rt("150000").sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Plan)) == 1


# ---- 3. units ------------------------------------------------------------------------------

def test_unit_table_normalises() -> None:
    assert normalise("％") == "%" and normalise("/10万") == "1/10万" and normalise(" ‰ ") == "‰"
    assert scale_of("％") == 100 and scale_of("/10万") == 100_000 and scale_of("人") == 1


async def test_unknown_unit_is_refused_at_import_and_units_are_normalised(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _tokens(c, "150000", [("ed", "editor", None)])
        async with c.client("150000") as cl:
            bad = json.loads(json.dumps(sample))
            bad["indicators"][1]["unit"] = "斤"
            err = _err(await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": bad}), 400)
            assert "W-HEALTH-02" in err["message"] and "斤" in err["message"]
            assert "1/10万" in err["message"] and "%" in err["message"]  # the known units
            wide = json.loads(json.dumps(sample))
            wide["indicators"][0]["unit"] = "/10万"
            wide["indicators"][1]["unit"] = "％"
            r = await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": wide})
            assert r.status_code == 201, r.text
        async with c.rt("150000").sessions() as s:
            plan = await s.get(Plan, "150000-women")
            assert plan is not None
            units = {i["code"]: i["unit"] for i in plan.document["indicators"]}
        assert units["W-HEALTH-01"] == "1/10万" and units["W-HEALTH-02"] == "%"


# ---- 6. workflow ---------------------------------------------------------------------------

async def test_expert_review_needs_the_minimum_consultation_rounds(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from node.config import Settings

    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    settings = Settings(delivery_loop=False, pull_interval_seconds=3600,
                        min_consultation_rounds=2)
    async with cluster(tmp_path, db_factory, PROV, settings=settings) as c:
        h = await _tokens(c, "150000", [("ed", "editor", None), ("wjw", "member_unit", "卫健委")])
        async with c.client("150000") as cl:
            r = await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": sample})
            pid = r.json()["id"]
            step = f"/api/v1/plans/{pid}/steps/"
            err = _err(await cl.post(step + "expert_review", headers=h["ed"]), 409)
            assert err["code"] == "consultation_rounds" and "at least 2" in err["message"]
            assert (await cl.post(step + "consultation", headers=h["ed"])).status_code == 200
            # a member unit comments only in its own unit's name
            err = _err(await cl.post(f"/api/v1/plans/{pid}/comments", headers=h["wjw"],
                                     json={"unit": "教育局", "text": "x"}), 403)
            assert "卫健委" in err["message"]
            r = await cl.post(f"/api/v1/plans/{pid}/comments", headers=h["wjw"],
                              json={"unit": "卫健委", "text": "同意"})
            assert r.status_code == 201
            _err(await cl.post(step + "expert_review", headers=h["ed"]), 409)
            assert (await cl.post(step + "consultation", headers=h["ed"])).status_code == 200
            assert (await cl.post(step + "expert_review", headers=h["ed"])).status_code == 200
        async with c.rt("150000").sessions() as s:
            comments = (await s.scalars(select(PlanComment))).all()
        assert [x.unit for x in comments] == ["卫健委"]


async def test_cli_as_must_be_a_real_user_with_the_role(tmp_path: Path, db_url: str) -> None:
    ddir = str(tmp_path / "prov")
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--base-url", "http://127.0.0.1:9", "--database-url", db_url, "--data-dir", ddir)
    for name, role in [("ed", "editor"), ("dir", "reviewer"), ("dir2", "reviewer")]:
        run_cli("users", "add", name, "--role", role, "--data-dir", ddir)

    def cli(*args: str) -> Any:
        return run_cli(*args, "--data-dir", ddir, check=False)

    assert cli("framework", "import", str(SAMPLE), "--kind", "women",
               "--as", "ed").returncode == 0
    pid = "150000-women"
    for step in ("consultation", "expert_review"):
        assert cli("plan", "step", pid, step, "--as", "ed").returncode == 0
    assert cli("plan", "step", pid, "submit", "--as", "dir").returncode != 0  # no plans.edit
    assert cli("plan", "step", pid, "submit", "--as", "ed").returncode == 0
    for who, why in [("ghost", "no user"), ("ed", "may not do this")]:
        p = cli("plan", "step", pid, "approve", "--as", who)
        assert p.returncode != 0 and why in p.stderr, p.stderr
        assert p.stderr.count("错误 error:") == 1 and "Traceback" not in p.stderr
    p = cli("plan", "step", pid, "approve")
    assert p.returncode != 0 and "--as" in p.stderr
    assert cli("plan", "step", pid, "approve", "--as", "dir").returncode == 0
    # importing over the existing plan needs --replace
    p = cli("framework", "import", str(SAMPLE), "--kind", "women", "--as", "ed")
    assert p.returncode != 0 and "--replace" in p.stderr


# ---- 9. import -----------------------------------------------------------------------------

async def test_import_refuses_the_wrong_kind_and_asks_before_replacing(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    women = write_xlsx(load_file(SAMPLE, "women"))
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _tokens(c, "150000", [("ed", "editor", None)])
        async with c.client("150000") as cl:
            # an indicator of an unknown plan kind is refused, not dropped
            typo = json.loads(json.dumps(sample))
            typo["indicators"][0]["plan"] = "woman"
            err = _err(await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": typo}), 400)
            assert "W-HEALTH-01" in err["message"] and "woman" in err["message"]
            # a women's code filed under the children's plan in a framework file
            mixed = json.loads(json.dumps(sample))
            mixed["indicators"][0]["plan"] = "children"
            _err(await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "children", "title": "t", "document": mixed}), 400)
            # a women's XLSX imported as the children's plan
            r = await cl.post("/api/v1/plans/import", headers=h["ed"],
                              data={"kind": "children", "title": "t"},
                              files={"file": ("w.xlsx", women)})
            err = _err(r, 400)
            assert err["code"] == "wrong_plan_kind" and "妇女发展规划" in err["message"]
            # importing over an existing draft: 409 unless replace=true
            r = await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": sample})
            assert r.status_code == 201
            fewer = json.loads(json.dumps(sample))
            fewer["indicators"] = fewer["indicators"][:2]
            err = _err(await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": fewer}), 409)
            assert err["code"] == "plan_exists" and "replace" in err["message"]
            r = await cl.post("/api/v1/plans/import", headers=h["ed"],
                              data={"kind": "women", "title": "t"},
                              files={"file": ("w.xlsx", write_xlsx(load_file(SAMPLE, "women")))})
            _err(r, 409)
            async with c.rt("150000").sessions() as s:
                plan = await s.get(Plan, "150000-women")
                assert plan is not None and len(plan.document["indicators"]) == 5
            r = await cl.post("/api/v1/plans/import", headers=h["ed"], json={
                "kind": "women", "title": "t", "document": fewer, "replace": True})
            assert r.status_code == 201 and r.json()["indicators"] == 2
        async with c.rt("150000").sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Plan)) == 1
