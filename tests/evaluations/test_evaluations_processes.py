"""Evaluations end to end through real `plansync serve` processes (county → city →
province), driven by the `plansync evaluation` CLI: file, receive, return, refile; the
province's audit shows the county on time (under the city's framework) and the city late
(under the province's default due day)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.cluster import TREE
from tests.conftest import DbFactory
from tests.evaluations.test_evaluations import COUNTY_DATA, HIV, MMR, document
from tests.procs import Proc, free_port, run_cli

ENV = {"PLANSYNC_SWEEP_INTERVAL_SECONDS": "0.3"}
pytestmark = pytest.mark.timeout(400)  # some 25 CLI processes on a shared machine


def cli(node: Path, *args: str, check: bool = True) -> Any:
    return run_cli(*args, "--data-dir", str(node), check=check)


def wait_for(what: str, fn: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {got}")


async def test_evaluation_filed_returned_refiled_through_real_processes(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    tree = TREE[:3]
    ports = {code: free_port() for code, *_ in tree}
    dirs = {code: tmp_path / code for code, *_ in tree}
    procs: dict[str, Proc] = {}
    tokens: dict[str, str] = {}
    try:
        for code, name, level, parent in tree:
            args = ["init", "--code", code, "--name", name, "--level", level,
                    "--base-url", f"http://127.0.0.1:{ports[code]}",
                    "--database-url", await db_factory(), "--data-dir", str(dirs[code])]
            if parent:
                args += ["--parent-url", f"http://127.0.0.1:{ports[parent]}"]
            run_cli(*args)
            tokens[code] = cli(dirs[code], "users", "add", "admin", "--role",
                               "admin").stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1]
            # the city gives its counties until December 31 of the year after the stage
            doc = document("12-31" if code == "150600" else None)
            (tmp_path / f"{code}.json").write_text(json.dumps(doc.dump(), ensure_ascii=False))
            cli(dirs[code], "framework", "import", str(tmp_path / f"{code}.json"),
                "--kind", "women", "--as", "admin")
        cli(dirs["150603"], "users", "add", "wjw", "--role", "member_unit", "--unit", "卫健委")
        cli(dirs["150600"], "users", "add", "rev", "--role", "reviewer")
        for code, *_ in tree:
            procs[code] = Proc(dirs[code], ports[code], env=ENV)
        for p in procs.values():
            p.wait_ready()
        for code, name, _, parent in tree:
            if parent:
                token = cli(dirs[parent], "children", "invite", code, "--name",
                            name).stdout.strip()
                cli(dirs[code], "enroll", "--token", token)
        county, city = dirs["150603"], dirs["150600"]
        # the yearly values through the API (the evaluation itself through the CLI below)
        for code, data in (("150603", COUNTY_DATA), ("150600", {MMR: {2025: (1, 20_000)}})):
            for ind, years in data.items():
                for y, (num, den) in years.items():
                    r = httpx.put(f"{procs[code].url}/api/v1/reports/women/{y}/values/{ind}",
                                  json={"numerator": num, "denominator": den}, timeout=10,
                                  headers={"Authorization": f"Bearer {tokens[code]}"})
                    assert r.status_code == 200, r.text

        shown = json.loads(cli(county, "evaluation", "show", "women", "2025", "--format",
                               "json").stdout)
        assert {i["code"]: i["proposed"] for i in shown["items"]}[MMR] == "ahead"
        assert shown["due_on"] == "2026-06-30"  # the county's own default (06-30)
        # an override without a reason: one Chinese error line, non-zero, nothing changed
        bad = cli(county, "evaluation", "set", "women", "2025", HIV, "--category", "missed",
                  "--as", "admin", check=False)
        assert bad.returncode == 1 and bad.stderr.startswith("错误 error:")
        assert "Traceback" not in bad.stderr
        cli(county, "evaluation", "set", "women", "2025", HIV, "--category", "missed",
            "--reason", "2025年目标未完成", "--as", "admin")
        mine = cli(county, "evaluation", "self", "women", "2025", "W-ECON-01", "--category",
                   "no_data", "--as", "wjw", check=False)
        assert mine.returncode == 1 and "人社局" in mine.stderr  # not 卫健委's indicator
        cli(county, "evaluation", "self", "women", "2025", MMR, "--category", "ahead",
            "--text", "已提前达标", "--as", "wjw")
        cli(county, "evaluation", "file", "women", "2025", "--as", "admin")

        def received() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = json.loads(cli(city, "evaluation", "received",
                                                       "--format", "json").stdout)
            return out

        first = wait_for("the city to receive it", received)[0]
        due = date(2026, 12, 31)  # the city's framework
        assert first["filer"] == "150603" and first["outcome"] == "accepted"
        assert first["due_on"] == due.isoformat()
        assert {i["code"]: i["category"] for i in first["items"]}[HIV] == "missed"
        cli(city, "evaluation", "return", first["id"], "--reasons", "请补充原因分析",
            "--as", "rev")
        wait_for("the county to see the return", lambda: json.loads(cli(
            county, "evaluation", "show", "women", "2025", "--format", "json").stdout)
            ["status"] == "returned")
        cli(county, "evaluation", "summary", "women", "2025", "--text", "补充：原因分析……",
            "--as", "admin")
        cli(county, "evaluation", "file", "women", "2025", "--as", "admin")
        both = wait_for("the refiling", lambda: (r := received()) and len(r) == 2 and r)
        assert [r["outcome"] for r in both] == ["returned", "accepted"]
        assert both[1]["refiling_of"] == first["id"] and both[1]["due_on"] == due.isoformat()
        # the city files its own: due June 30 under the province's framework (default)
        cli(city, "evaluation", "file", "women", "2025", "--as", "admin")
        local = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the offices' calendar
        headers = {"Authorization": f"Bearer {tokens['150000']}"}

        def audit() -> dict[str, dict[str, Any]]:  # over HTTP, as the console asks
            r = httpx.get(f"{procs['150000'].url}/api/v1/evaluations/audit", headers=headers,
                          timeout=30)
            assert r.status_code == 200, r.text
            return {x["code"]: x for x in r.json()["rows"]
                    if x["filing"] == "evaluation.women.2025"}

        rows = wait_for("the province's ledger", lambda: (a := audit()) and
                        a.get("150600", {}).get("received_at") and
                        len(a.get("150603", {}).get("history") or []) == 3 and a)
        county_late = max(0, (local - due).days)
        assert rows["150603"]["status"] == ("late" if county_late else "on_time")
        assert rows["150603"]["late_days"] == county_late
        city_late = max(0, (local - date(2026, 6, 30)).days)
        assert rows["150600"]["status"] == ("late" if city_late else "on_time")
        assert rows["150600"]["late_days"] == city_late
        shown = json.loads(cli(dirs["150000"], "evaluation", "audit", "--subtree", "150600",
                               "--format", "json").stdout)  # the CLI: the same rows
        by_code = {r["code"]: r for r in shown["rows"] if r["kind"] == "women"}
        assert "150600" not in by_code  # the subtree below the city
        assert (by_code["150603"]["status"], by_code["150603"]["late_days"]) == (
            rows["150603"]["status"], rows["150603"]["late_days"])
        agg = json.loads(cli(dirs["150000"], "evaluation", "children", "women", "2025",
                             "--under", "150600", "--format", "json").stdout)
        assert agg["filed"] == ["150603"]
        assert {r["code"]: r["counts"]["missed"] for r in agg["indicators"]}[HIV] == 1
        cli(dirs["150000"], "evaluation", "document", "women", "2025", "--out",
            str(tmp_path / "评估.docx"))
        assert (tmp_path / "评估.docx").read_bytes()[:2] == b"PK"  # a .docx (zip)
    finally:
        for p in procs.values():
            p.stop()
