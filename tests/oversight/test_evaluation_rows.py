"""Evaluation reports (中期评估报告 2025, 终期评估报告 2030) on the shared timeliness audit: the
oversight filings list, its XLSX and overview, /api/v1/audit/timeliness, and the 工作台 — an
office's 2025 annual report and its 2025 mid-term evaluation are two rows, never one, and a
filter by what a filing is (plan / report / evaluation) keeps them apart (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from node.db import transaction
from node.evaluations import service as evaluations
from node.models import User
from node.oversight.exports import filing_words
from node.workbench import todo
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.oversight.test_oversight import _token
from tests.reports.test_reports_flow import TREE, at, file, setup_plans

MMR = "W-HEALTH-01"
SH = ZoneInfo("Asia/Shanghai")


async def _file_evaluation(c: Cluster, code: str, parent: str, when: datetime) -> None:
    c.rt(parent).clock = lambda: when
    async with transaction(c.rt(code).sessions) as s:
        await evaluations.file_evaluation(session=s, rt=c.rt(code), kind="women", stage=2025,
                                          actor="director")
    await c.settle()


def test_filing_words() -> None:
    assert filing_words("evaluation.women.2025") == "妇女规划中期评估报告"
    assert filing_words("evaluation.children.2030") == "儿童规划终期评估报告"
    assert filing_words("report.women.2025") == "2025年度妇女规划实施情况报告"
    assert filing_words("plan.children") == "儿童规划备案"


async def test_report_and_evaluation_of_2025_are_two_rows(tmp_path: Path,
                                                          db_factory: DbFactory) -> None:
    today = datetime.now(SH).date()
    assert today > date(2026, 6, 30), "the scenario needs the 2025 evaluation to be due"
    async with cluster(tmp_path, db_factory, TREE) as c:
        await setup_plans(c)
        # 康巴什区: its 2025 women's report on time, its mid-term evaluation 3 days late
        await file(c, "150603", "women", 2025, {MMR: (2, 10_000)}, at(2026, 3, 20))
        await _file_evaluation(c, "150603", "150600", at(2026, 7, 3))
        # 东胜区: its report a day late, no evaluation (超期未报)
        await file(c, "150602", "women", 2025, {MMR: (1, 40_000)}, at(2026, 4, 1, 0, 1))
        auditor = await _token(c, "150000", "auditor")
        async with c.client("150000", auditor) as cl:
            r = await cl.get("/api/v1/oversight/filings", params={
                "year": 2025, "office": "150603", "kind": "women"})
            assert r.status_code == 200, r.text
            rows = {x["filing"]: x for x in r.json()["rows"]}
            assert set(rows) == {"report.women.2025", "evaluation.women.2025"}
            rep, ev = rows["report.women.2025"], rows["evaluation.women.2025"]
            assert (rep["what"], rep["status"], rep["late_days"]) == ("report", "on_time", 0)
            assert (ev["what"], ev["status"], ev["late_days"], ev["due_on"]) == (
                "evaluation", "late", 3, "2026-06-30")
            # the filter by what a filing is
            r = await cl.get("/api/v1/oversight/filings", params={
                "what": "evaluation", "size": 500})
            evs = r.json()["rows"]
            assert evs and {x["what"] for x in evs} == {"evaluation"}
            by = {(x["code"], x["filing"]): x for x in evs}
            assert by[("150602", "evaluation.women.2025")]["status"] == "overdue"
            assert by[("150603", "evaluation.women.2025")]["status"] == "late"
            assert by[("150100", "evaluation.women.2025")]["status"] == "not_enrolled"
            reps = (await cl.get("/api/v1/oversight/filings", params={
                "what": "report", "year": 2025, "size": 500})).json()["rows"]
            assert reps and {x["what"] for x in reps} == {"report"}
            assert by[("150602", "evaluation.women.2025")] not in reps
            plans = (await cl.get("/api/v1/oversight/filings", params={
                "what": "plan", "size": 500})).json()["rows"]
            assert plans and all(x["year"] is None for x in plans)
            everything = (await cl.get("/api/v1/oversight/filings", params={
                "size": 1})).json()["total"]
            parts = [(await cl.get("/api/v1/oversight/filings", params={
                "what": w, "size": 1})).json()["total"] for w in ("plan", "report",
                                                                  "evaluation")]
            assert everything == sum(parts) and all(parts)
            bad = await cl.get("/api/v1/oversight/filings", params={"what": "annual"})
            assert bad.status_code == 400 and bad.json()["error"]["code"]
            # the XLSX speaks words
            x = await cl.get("/api/v1/oversight/filings", params={
                "what": "evaluation", "office": "150603", "kind": "women",
                "format": "xlsx"})
            ws = load_workbook(BytesIO(x.content)).active
            assert ws is not None
            data = [row for row in ws.iter_rows(min_row=3, values_only=True) if row[1]]
            assert [(d[1], d[5], d[8], d[9]) for d in data] == [
                ("150603", "妇女规划中期评估报告", "逾期报送", 3)]
            # the overview: annual reports of 2025 only in the report cards and the rates
            ov = (await cl.get("/api/v1/oversight/overview", params={"year": 2025})).json()
            n_reports = sum(ov["reports"].values())
            assert n_reports == len(reps)
            assert ov["evaluations"]["late"] == 1 and ov["evaluations"]["overdue"] >= 1
            for lv in ov["by_level"]:
                assert lv["what"] in ("plan", "report")
                assert lv["due"] <= lv["expected"]
                for k in ("reporting_rate", "on_time_rate"):
                    assert lv[k] is None or 0 <= lv[k] <= 1
            # /api/v1/audit/timeliness lists evaluations as their own filings, filtered too
            t = (await cl.get("/api/v1/audit/timeliness", params={"year": 2025})).json()
            mine = {x["filing"] for x in t["rows"] if x["code"] == "150603"}
            assert {"report.women.2025", "evaluation.women.2025"} <= mine
            t = (await cl.get("/api/v1/audit/timeliness", params={
                "year": 2025, "what": "evaluation"})).json()
            assert t["rows"] and all(x["filing"].startswith("evaluation.") for x in t["rows"])
            for g in t["by_level"] + t["by_node"]:
                for k in ("reporting_rate", "on_time_rate"):
                    assert g[k] is None or 0 <= g[k] <= 1
            bad = await cl.get("/api/v1/audit/timeliness", params={"what": "x"})
            assert bad.status_code == 400

        # the 工作台: 东胜区 owes its evaluation (overdue), 康巴什区 filed its women's one
        admin = User(name="office", role="admin", unit=None)
        async with c.rt("150602").sessions() as s:
            items = await todo(s, user=admin, self_code="150602", today=today)
        due = [i for i in items if i.kind == "evaluation_due"]
        women = next(i for i in due if i.title == "妇女规划中期评估报告")
        assert (women.severity, women.due_on, women.link) == (
            "overdue", "2026-06-30", "/evaluation/women/2025")
        assert women.days_left == (date(2026, 6, 30) - today).days
        async with c.rt("150603").sessions() as s:
            items = await todo(s, user=admin, self_code="150603", today=today)
        assert "妇女规划中期评估报告" not in {i.title for i in items}
        assert "儿童规划中期评估报告" in {i.title for i in items if i.kind == "evaluation_due"}
        # the city sees its counties' overdue evaluations; a province has no parent to file to
        async with c.rt("150600").sessions() as s:
            items = await todo(s, user=admin, self_code="150600", today=today)
        over = {i.title for i in items if i.kind == "child_overdue"}
        assert "东胜区 妇女规划中期评估报告超期未报" in over
        assert "康巴什区 妇女规划中期评估报告超期未报" not in over
        assert "准格尔旗 2025年度妇女规划实施情况报告超期未报" in over  # reports as before
        async with c.rt("150000").sessions() as s:
            items = await todo(s, user=admin, self_code="150000", today=today)
        assert not [i for i in items if i.kind == "evaluation_due"]


def test_cli_audit_timeliness_by_what(tmp_path: Path, db_url: str) -> None:
    """`plansync audit timeliness --what`: the province's evaluations of its (never enrolled)
    subtree as their own filings; a bad --what is one error line and exit 2."""
    import json

    from tests.cli.test_operator_errors import _sample_plan, init_province, one_error
    from tests.procs import run_cli

    ddir = tmp_path / "n"
    init_province(ddir, db_url)
    _sample_plan(ddir)
    today = datetime.now(SH).date()
    out = tmp_path / "t.json"
    run_cli("audit", "timeliness", "--what", "evaluation", "--format", "json", "--out",
            str(out), "--data-dir", str(ddir))
    rep = json.loads(out.read_text("utf-8"))
    rows = rep["rows"] if "rows" in rep else rep["报送明细"]
    assert rows and {r["filing"] for r in rows} == {"evaluation.women.2025"}
    assert {r["status"] for r in rows} == {
        "not_enrolled" if today > date(2026, 6, 30) else "pending"}
    run_cli("audit", "timeliness", "--what", "report", "--format", "json", "--out", str(out),
            "--data-dir", str(ddir))
    rep = json.loads(out.read_text("utf-8"))
    rows = rep["rows"] if "rows" in rep else rep["报送明细"]
    assert rows and all(r["filing"].startswith("report.") for r in rows)
    one_error(run_cli("audit", "timeliness", "--what", "annual", "--data-dir", str(ddir),
                      check=False), "--what")
