"""Issue #13, the oversight views' API: the timeliness audit filtered, sorted and paged on the
server (and its printable XLSX), the overview's cards and tree, indicator status buckets, an
indicator's series, and sync health with dead letters retried (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select, update

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.filings import service as filings
from node.models import OutboxRow, ReceivedReport
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.reports.test_reports_flow import TREE, at, file, setup_plans

MMR = "W-HEALTH-01"


async def _token(c: Cluster, code: str, role: str) -> str:
    async with transaction(c.rt(code).sessions) as s:
        u = await create_user(session=s, name=role, role=role, password=None, actor="t")
        return await issue_token(session=s, user=u, label="t", actor="t")


async def _scenario(c: Cluster) -> None:
    """The reports' scenario, and two more counties' women's reports: 1 and 40 days late."""
    await _scenario_reports_only(c)
    await file(c, "150602", "women", 2025, {MMR: (1, 40_000)}, at(2026, 4, 1, 0, 1))
    await file(c, "150621", "women", 2025, {MMR: (0, 5_000)}, at(2026, 5, 10))


async def test_audit_pages_xlsx_overview_buckets_series(tmp_path: Path,
                                                       db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        await _scenario(c)
        auditor = await _token(c, "150000", "auditor")
        viewer = await _token(c, "150000", "viewer")
        async with c.client("150000", auditor) as cl:
            today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
            r = await cl.get("/api/v1/oversight/filings", params={"year": 2025, "size": 500})
            assert r.status_code == 200, r.text
            page = r.json()
            rows = page["rows"]
            order = ["overdue", "not_enrolled", "returned", "late", "pending", "on_time"]
            ranks = [order.index(x["status"]) for x in rows]
            assert ranks == sorted(ranks)  # the most urgent first
            by = {(x["code"], x["filing"]): x for x in rows}
            over = by[("150622", "report.women.2025")]
            assert over["status"] == "overdue" and over["city"] == "150600"
            assert over["late_days"] == (today - date(2026, 3, 31)).days  # the clock runs
            assert by[("150621", "report.women.2025")]["late_days"] == 40
            refiled = by[("150603", "report.children.2025")]
            assert [h["outcome"] for h in refiled["history"]] == [
                "accepted", "returned", "accepted"]  # filed, returned, refiled
            # the cities of the real tree, 呼和浩特市 never enrolled (its rows 未接入)
            assert {"code": "150600", "name": "鄂尔多斯市"} in page["cities"]
            assert {"code": "150100", "name": "呼和浩特市"} in page["cities"]
            assert by[("150100", "report.women.2025")]["status"] == "not_enrolled"
            assert by[("150102", "report.women.2025")]["city"] == "150100"
            # filters, server-side paging and sorting
            r = await cl.get("/api/v1/oversight/filings", params={
                "year": 2025, "level": "county", "status": "late", "kind": "women"})
            assert {x["code"] for x in r.json()["rows"]} == {"150602", "150621"}
            r = await cl.get("/api/v1/oversight/filings", params={
                "year": 2025, "sort": "late_days", "order": "desc", "size": 2, "page": 1})
            p1 = r.json()
            assert p1["total"] == page["total"] and len(p1["rows"]) == 2
            assert p1["rows"][0]["late_days"] >= p1["rows"][1]["late_days"]
            r2 = (await cl.get("/api/v1/oversight/filings", params={
                "year": 2025, "sort": "late_days", "order": "desc", "size": 2,
                "page": 2})).json()
            assert not {(x["code"], x["filing"]) for x in r2["rows"]} & {
                (x["code"], x["filing"]) for x in p1["rows"]}
            bad = await cl.get("/api/v1/oversight/filings", params={"sort": "nonsense"})
            assert bad.status_code == 400 and bad.json()["error"]["code"]
            # the printable XLSX: title, 序号, bold frozen header, dates as dates
            x = await cl.get("/api/v1/oversight/filings", params={
                "year": 2025, "status": "late", "format": "xlsx"})
            assert x.status_code == 200
            ws = load_workbook(BytesIO(x.content)).active
            assert ws is not None
            assert "报送及时性督查表" in str(ws["A1"].value)
            assert ws["A2"].value == "序号" and ws["A2"].font.bold and ws.freeze_panes == "A3"
            data = [row for row in ws.iter_rows(min_row=3, values_only=True) if row[1]]
            late = [x for x in rows if x["status"] == "late"]
            assert len(data) == len(late) and [d[0] for d in data] == list(
                range(1, len(late) + 1))
            assert all(isinstance(d[6], datetime | date) for d in data)  # 截止日期
            assert {d[8] for d in data} == {"逾期报送"}  # coded values as words
            received = next(d for d in data if d[1] == "150602")[7]
            assert (received.hour, received.minute) == (0, 1)  # Beijing time, as received

            # the overview: cards, rates never above 100%, the tree
            ov = (await cl.get("/api/v1/oversight/overview", params={"year": 2025})).json()
            assert ov["reports"]["overdue"] >= 2 and ov["reports"]["on_time"] >= 1
            for lv in ov["by_level"]:
                for k in ("reporting_rate", "on_time_rate"):
                    assert lv[k] is None or 0 <= lv[k] <= 1
            tree = {n["code"]: n for n in ov["tree"]}
            assert {"150600", "150603", "150602", "150621", "150622"} <= set(tree)
            assert tree["150100"]["status"] == "not_enrolled"
            assert tree["150100"]["counts"]["not_enrolled"] == 2
            assert tree["150622"]["status"] == "overdue"
            assert tree["150603"]["parent"] == "150600"

            # buckets and the series behind the charts
            b = (await cl.get("/api/v1/oversight/indicators/women",
                              params={"scope": "150603"})).json()
            assert sum(b["counts"].values()) == len(b["indicators"])
            mmr = next(i for i in b["indicators"] if i["code"] == MMR)
            assert mmr["series"] and mmr["bucket"] in ("already_met", "off_target",
                                                       "on_track", "at_risk")
            none = next(i for i in b["indicators"] if not i["series"])
            assert none["bucket"] == "no_data"
            s = (await cl.get(f"/api/v1/oversight/series/women/{MMR}",
                              params={"year": 2025, "under": "150600"})).json()
            assert [p["year"] for p in s["points"]][-1] == 2025
            last = s["points"][-1]
            assert (last["numerator"], last["denominator"]) == (3, 55_000)
            assert last["coverage"] == "3/9" and s["children"]["150622"] is None
            assert (await cl.get("/api/v1/oversight/series/women/NOPE")).status_code == 404
            # the audit's rows are cached between pages; a new filing shows at once
            await file(c, "150622", "women", 2025, {MMR: (1, 1_000)}, at(2026, 11, 1))
            r = await cl.get("/api/v1/oversight/filings", params={
                "year": 2025, "office": "150622", "kind": "women", "what": "report"})
            (now_late,) = r.json()["rows"]
            assert now_late["status"] == "late" and now_late["late_days"] == 215
        async with c.client("150000", viewer) as cl:
            assert (await cl.get("/api/v1/oversight/filings")).status_code == 403
            assert (await cl.get("/api/v1/oversight/overview")).status_code == 200


async def test_sync_health_and_dead_letters_retried(tmp_path: Path,
                                                   db_factory: DbFactory) -> None:
    from datetime import timedelta

    from tests.audit.test_audit_seals import publish_plan

    async with cluster(tmp_path, db_factory, TREE[:4]) as c:
        admin = await _token(c, "150600", "admin")
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        await publish_plan(c, "150000", today - timedelta(days=20))
        c.transport.offline.add("n150603.test")
        await publish_plan(c, "150600", today - timedelta(days=10))  # released to both
        city = c.rt("150600")
        async with transaction(city.sessions) as s:
            await s.execute(update(OutboxRow).where(OutboxRow.target_code == "150603")
                            .values(status="dead", last_error="unreachable: test"))
        async with c.client("150600", admin) as cl:
            h = (await cl.get("/api/v1/oversight/sync")).json()
            n = {x["code"]: x for x in h["neighbours"]}
            assert set(n) == {"150000", "150603", "150602"}
            assert n["150000"]["relation"] == "parent"
            assert h["own_frameworks"] == {"women": 1}
            dead = n["150603"]["dead"]
            assert dead and {d["error"] for d in dead} == {"unreachable: test"}
            assert "framework.release" in {d["type"] for d in dead}
            assert n["150602"]["frameworks"] == {"women": 1}  # delivered there
            assert n["150603"]["frameworks"] == {}
            assert "status" in h["key_transparency"]
            c.transport.offline.discard("n150603.test")
            r = await cl.post("/api/v1/oversight/sync/retry", json={"target": "150603"})
            assert r.json() == {"retried": len(dead)}
            await c.settle()
            h = (await cl.get("/api/v1/oversight/sync")).json()
            n = {x["code"]: x for x in h["neighbours"]}
            assert n["150603"]["dead"] == [] and n["150603"]["pending"] == 0
            assert n["150603"]["frameworks"] == {"women": 1}
            names = {o["code"]: o["relation"] for o in
                     (await cl.get("/api/v1/oversight/offices")).json()}
            assert names == {"150000": "parent", "150600": "self", "150603": "child",
                             "150602": "child"}
            one = (await cl.get("/api/v1/oversight/filings",
                                params={"office": "150602"})).json()
            assert one["total"] and {r["code"] for r in one["rows"]} == {"150602"}


async def test_sent_reports_with_receipts_and_one_filed_plan(tmp_path: Path,
                                                            db_factory: DbFactory) -> None:
    """What the console's 报送 and 下级报送 pages open: our filed annual reports with the
    parent's signed answers, and one child's filed plan with its document."""
    from datetime import timedelta

    from tests.audit.test_audit_seals import publish_plan

    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        await _scenario_reports_only(c)
        county = await _token(c, "150603", "viewer")
        async with c.client("150603", county) as cl:
            sent = (await cl.get("/api/v1/reports/sent")).json()
            assert [(s["kind"], s["year"], s["outcome"]) for s in sent] == [
                ("children", 2025, "accepted"), ("women", 2025, "accepted")]
            assert sent[0]["receipt"]["timeliness"] == "late"  # refiled after its return
            assert sent[0]["receipt"]["late_days"] == 5
        from sync import utcnow

        c.rt("150600").clock = utcnow  # back to today (the reports were received in April)
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        await publish_plan(c, "150000", today - timedelta(days=20))
        await publish_plan(c, "150600", today - timedelta(days=10))
        await publish_plan(c, "150603", today - timedelta(days=2))
        city = await _token(c, "150600", "viewer")
        async with c.client("150600", city) as cl:
            (f,) = (await cl.get("/api/v1/filings")).json()
            one = (await cl.get(f"/api/v1/filings/{f['id']}")).json()
            assert one["filer"] == "150603" and one["kind"] == "women"
            assert one["document"]["indicators"] and one["outcome"] == "accepted"
            missing = await cl.get("/api/v1/filings/00000000-0000-7000-8000-000000000000")
            assert missing.status_code == 404


async def _scenario_reports_only(c: Cluster) -> None:
    await setup_plans(c)
    await file(c, "150603", "women", 2025, {MMR: (2, 10_000)}, at(2026, 3, 31, 23, 59))
    await file(c, "150603", "children", 2025, {"C-HEALTH-01": (3, 1_000)}, at(2026, 3, 20))
    city = c.rt("150600")
    async with transaction(city.sessions) as s:
        first = await s.scalar(select(ReceivedReport).where(
            ReceivedReport.filer == "150603", ReceivedReport.kind == "children"))
        assert first is not None
        await filings.return_filing(session=s, rt=city, filing_id=first.id,
                                    reasons="分母口径有误", actor="reviewer")
    await c.settle()
    await file(c, "150603", "children", 2025, {"C-HEALTH-01": (6, 1_200)}, at(2026, 4, 5))


async def test_the_to_do_names_each_child_that_never_enrolled_once(
        tmp_path: Path, db_factory: DbFactory) -> None:
    from node.divisions import division_children

    async with cluster(tmp_path, db_factory, TREE[:4]) as c:  # the city and 2 of its counties
        admin = await _token(c, "150600", "admin")
        async with c.client("150600", admin) as cl:
            items = (await cl.get("/api/v1/todo")).json()
        absent = [i for i in items if i["kind"] == "child_not_enrolled"]
        expected = set(division_children()["150600"]) - {"150602", "150603"}
        assert len(absent) == len(expected) and all(i["link"] == "/children" for i in absent)
        assert {i["title"].split("（")[1].split("）")[0] for i in absent} == expected
