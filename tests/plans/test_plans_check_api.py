"""The no-lowered-standard check of an edit not yet saved (what the console shows while the
user types): the server's one rule, against the frameworks in force; nothing is stored."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.models import Plan
from node.plans import service as plans
from node.plans.sheets import load_file
from tests.audit.test_audit_seals import TREE, publish_plan
from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE


async def test_an_unsaved_edit_is_checked_and_nothing_is_stored(tmp_path: Path,
                                                                db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:2]) as c:
        await publish_plan(c, "150000", date.today() - timedelta(days=5))
        city = c.rt("150600")
        async with transaction(city.sessions) as s:
            await plans.create_plan(session=s, code="150600", kind="women", title="t",
                                    document=load_file(SAMPLE, "women"), actor="t")
            u = await create_user(session=s, name="viewer", role="viewer", password=None,
                                  actor="t")
            token = await issue_token(session=s, user=u, label="t", actor="t")
        async with city.sessions() as s:
            plan = await s.get(Plan, "150600-women")
            assert plan is not None
            stored = plan.document
        edit = {**stored, "indicators": [
            {**i, "target": 20} if i["code"] == "W-HEALTH-01" else i
            for i in stored["indicators"]]}  # 孕产妇死亡率 < 20: lower than the province's 12
        async with c.client("150600", token) as cl:
            r = await cl.post("/api/v1/plans/150600-women/check", json=edit)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["ok"] is False
            (f,) = body["findings"]
            assert f["indicator"] == "W-HEALTH-01" and f["ancestor"] == "150000"
            assert body["checked_against"][0]["code"] == "150000"
            same = (await cl.post("/api/v1/plans/150600-women/check", json=stored)).json()
            assert same["ok"] is True and same["findings"] == []
            bad = await cl.post("/api/v1/plans/150600-women/check",
                                json={"indicators": [{"code": "x"}]})
            assert bad.status_code == 400
        async with city.sessions() as s:
            again = await s.get(Plan, "150600-women")
            assert again is not None and again.document == stored  # nothing stored


async def test_the_unit_table_is_served(tmp_path: Path, db_factory: DbFactory) -> None:
    """The console scales rates with the server's one unit table (node.plans.units)."""
    from node.plans import units

    async with cluster(tmp_path, db_factory, TREE[:1]) as c:
        async with transaction(c.rt("150000").sessions) as s:
            u = await create_user(session=s, name="v", role="viewer", password=None, actor="t")
            token = await issue_token(session=s, user=u, label="t", actor="t")
        async with c.client("150000", token) as cl:
            t = (await cl.get("/api/v1/units")).json()
        by = {u["name"]: u for u in t["units"]}
        assert set(by) == set(units.UNITS)
        assert (by["%"]["scale"], by["%"]["low"], by["%"]["high"]) == (100, 0, 100)
        assert by["1/10万"]["scale"] == 100_000 and by["人"]["high"] is None
        assert t["aliases"]["/10万"] == "1/10万"
