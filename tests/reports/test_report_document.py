"""The annual monitoring report as a .docx (issue #14): read back with python-docx, its
indicator table equals the report's values, its status buckets equal the oversight indicators
endpoint's, its warnings are there with their reasons, its charts are embedded; the endpoint
answers with a Chinese file name (RFC 5987) and typed errors; the CLI writes it and refuses bad
paths; LibreOffice renders it when installed."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import docx
import pytest

from node.db import transaction
from node.oversight.service import bucket
from node.plans.units import scale_of
from node.reports import service
from node.reports.document import BUCKET_WORDS, WARNING_WORDS, monitoring_report
from tests import services
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.oversight.test_oversight import _token
from tests.procs import run_cli
from tests.reports.test_reports_flow import admin, at, file, setup_plans

TREE = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000"),
        ("150603", "康巴什区", "county", "150600"),
        ("150602", "东胜区", "county", "150600")]
MMR, SCREEN = "W-HEALTH-01", "W-HEALTH-02"  # 1/10万 (< 12), % (> 70)
# the city's own values: MMR rises 10 → 20 → 30 per 100,000 (off target, volatile)
OWN = {2023: {MMR: (1, 10_000), SCREEN: (60, 100)}, 2024: {MMR: (2, 10_000)},
       2025: {MMR: (3, 10_000), SCREEN: (75, 100)}}


async def _scenario(c: Cluster) -> None:
    await setup_plans(c)
    await file(c, "150603", "women", 2025, {MMR: (2, 10_000)}, at(2026, 3, 20))
    rt = c.rt("150600")
    for year, vals in OWN.items():
        async with transaction(rt.sessions) as s:
            for code, (num, den) in vals.items():
                await service.enter_value(session=s, code="150600", kind="women", year=year,
                                          indicator=code, user=admin(), numerator=num,
                                          denominator=den, value=None)


def _tables(d: Any) -> list[list[list[str]]]:
    return [[[cell.text for cell in row.cells] for row in t.rows] for t in d.tables]


def _expected_value(code: str, num: float, den: float) -> str:
    unit = "1/10万" if code == MMR else "%"
    return f"{num / den * scale_of(unit):g}"


async def test_document_matches_report_buckets_and_warnings(tmp_path: Path,
                                                           db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        await _scenario(c)
        viewer = await _token(c, "150600", "viewer")
        async with c.client("150600", viewer) as cl:
            r = await cl.get("/api/v1/reports/women/2025/document")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
            cd = r.headers["content-disposition"]
            assert cd.startswith("attachment; filename=\"monitoring-report-150600-women-2025")
            star = cd.split("filename*=UTF-8''")[1]
            assert unquote(star) == "鄂尔多斯市2025年妇女发展规划监测报告.docx"
            buckets = (await cl.get("/api/v1/oversight/indicators/women")).json()
            warns = [w for w in (await cl.get("/api/v1/warnings/women")).json()
                     if w["scope"] == "150600"]
            # typed errors: no report of the year, a kind that is none
            r404 = await cl.get("/api/v1/reports/women/2022/document")
            assert r404.status_code == 404 and r404.json()["error"]["code"]
            assert (await cl.get("/api/v1/reports/men/2025/document")).status_code == 400

        d = docx.Document(io.BytesIO(r.content))
        text = "\n".join(p.text for p in d.paragraphs)
        assert "鄂尔多斯市2025年妇女发展规划监测报告" in text
        assert "北京时间" in text
        tables = _tables(d)

        # the indicator table: one row per indicator, the values of the report
        ind = next(t for t in tables if t[0][:2] == ["指标编码", "指标名称"]
                   and "2025年监测值" in t[0])
        rows = {row[0]: row for row in ind[1:]}
        rt = c.rt("150600")
        async with rt.sessions() as s:
            doc = await service.require_doc(s, "150600", "women")
            rep = await service.get_report(s, "150600", "women", 2025)
            body = await service.report_body(s, rep)
            own = await service.own_series(s, "150600", "women")
        assert set(rows) == {i.code for i in doc.indicators}
        entered = {v["code"]: v for v in body["values"]}
        for i in doc.indicators:
            v = entered.get(i.code)
            want = (_expected_value(i.code, v["numerator"], v["denominator"]) if v else "—")
            assert rows[i.code][4] == want, (i.code, rows[i.code])
            assert rows[i.code][5] == BUCKET_WORDS[bucket(i, own.get(i.code, []))]
        assert rows[MMR][4] == "30" and rows[SCREEN][4] == "75"

        # the buckets: the same counts as the oversight indicators endpoint
        dist = next(t for t in tables if t[0] == ["状态", "指标数"])
        counts = {row[0]: int(row[1]) for row in dist[1:]}
        assert counts == {BUCKET_WORDS[k]: n for k, n in buckets["counts"].items()}
        assert counts["提前达标"] == 1 and counts["未达标"] == 1  # SCREEN met, MMR rising

        # the warnings, with their reasons, as /warnings says for this office
        wt = next(t for t in tables if t[0][:3] == ["指标编码", "指标名称", "预警类型"])
        got = {(row[0], row[2], row[5]) for row in wt[1:]}
        assert warns and got == {(w["code"], WARNING_WORDS[w["kind"]], w["detail"])
                                 for w in warns}
        assert (MMR, "波动较大") in {(g[0], g[1]) for g in got}

        # the children: the aggregate and each county's buckets
        kids = next(t for t in tables if t[0][:2] == ["单位代码", "单位名称"])
        assert {row[0] for row in kids[1:]} >= {"150603", "150602"}
        agg = next(t for t in tables if "覆盖(已报/应报)" in t[0])
        mmr_agg = next(row for row in agg[1:] if row[0] == MMR)
        assert mmr_agg[3] == "20" and mmr_agg[4].startswith("1/")

        # charts: the bucket distribution and the yearly series, as PNG images
        assert len(d.inline_shapes) >= 3
        pngs = [p for p in d.part.package.parts if p.content_type == "image/png"]
        assert pngs and all(p.blob.startswith(b"\x89PNG") for p in pngs)
        # A4, page numbers in the footer
        sec = d.sections[0]
        assert abs(sec.page_width.mm - 210) < 1 and abs(sec.page_height.mm - 297) < 1
        assert "PAGE" in sec.footer._element.xml


async def test_cli_writes_the_document_and_refuses_bad_paths(tmp_path: Path,
                                                            db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        await _scenario(c)
        ddir = str(c.cfgs["150600"].data_dir)
        out = tmp_path / "报告.docx"
        p = run_cli("report", "document", "--kind", "women", "--year", "2025", "--out",
                    str(out), "--data-dir", ddir)
        assert "已导出" in p.stdout
        d = docx.Document(str(out))
        assert any("监测报告" in para.text for para in d.paragraphs)
        for args, words in (
                (["--year", "2025", "--out", str(tmp_path / "r.pdf")], ".docx"),
                (["--year", "2025", "--out", str(tmp_path / "none" / "r.docx")], "目录不存在"),
                (["--year", "2022", "--out", str(tmp_path / "r.docx")], "no women report")):
            bad = run_cli("report", "document", "--kind", "women", *args, "--data-dir", ddir,
                          check=False)
            assert bad.returncode != 0, args
            assert bad.stderr.startswith("错误 error:") and words in bad.stderr, bad.stderr
            assert "Traceback" not in bad.stderr
        assert not (tmp_path / "r.docx").exists() and not (tmp_path / "r.pdf").exists()


async def test_libreoffice_renders_it(tmp_path: Path, db_factory: DbFactory) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:  # scripts/test installs it; a loud skip by hand, a failure in CI
        why = ("soffice is not installed: the monitoring report .docx was NOT rendered to "
               "PDF here (apt install --no-install-recommends libreoffice-writer-nogui)")
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        services.SKIPPED["LibreOffice rendering of the .docx"] = why
        pytest.skip(why)
    async with cluster(tmp_path, db_factory, TREE) as c:
        await _scenario(c)
        async with c.rt("150600").sessions() as s:
            name, data = await monitoring_report(session=s, code="150600", name="鄂尔多斯市",
                                                 kind="women", year=2025, volatility=0.2,
                                                 now=at(2026, 5, 1))
        src = tmp_path / "report.docx"
        src.write_bytes(data)
        subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir",
                        str(tmp_path), str(src)], check=True, timeout=120,
                       capture_output=True)
        pdf = tmp_path / "report.pdf"
        assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
