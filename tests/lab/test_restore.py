"""Backup and restore (issue #15): the CLI round trip, bad archives, and the hard case — a
city restored from an older backup resynchronises with its province and its counties, as
real `plansync serve` processes, with nothing lost and nothing repeated on any node."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from node.db import create_engine, session_factory
from node.lab.harness import ProcessCluster, pick
from node.models import (
    AuditEntry,
    EnvelopeRecord,
    Filing,
    KnownNode,
    LedgerEntry,
    ReceivedReport,
    SentFiling,
)
from tests import services
from tests.lab.test_faults import FAST, Driver, women_doc
from tests.procs import run_cli

pytestmark = pytest.mark.timeout(600)
CITY = "150600"
MMR = "W-HEALTH-01"


# -- the CLI: round trip, refusals, bad archives ---------------------------------------------

async def _snapshot(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            return {
                "nodes": sorted((n.code, n.relation) for n in
                                (await s.scalars(select(KnownNode))).all()),
                "audit": await s.scalar(select(func.count()).select_from(AuditEntry)),
                "epoch": (await s.get(KnownNode, "150000")).epoch,  # type: ignore[union-attr]
            }
    finally:
        await engine.dispose()


def _init(ddir: Path, db: str) -> None:
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--base-url", "http://127.0.0.1:9", "--database-url", db, "--data-dir", str(ddir))
    run_cli("users", "add", "admin", "--role", "admin", "--data-dir", str(ddir))


def _error_line(p: Any) -> str:
    assert p.returncode != 0, p.stdout
    lines = [x for x in p.stderr.splitlines() if x.strip() and not x.startswith("…")]
    assert len(lines) == 1 and lines[0].startswith("错误 error:"), p.stderr
    assert "Traceback" not in p.stderr
    return str(lines[0])


async def test_backup_restore_round_trip(tmp_path: Path, db_factory: Any) -> None:
    db = await db_factory()
    src = tmp_path / "src"
    _init(src, db)
    before = await _snapshot(db)
    archive = tmp_path / "b.tar.gz"
    out = run_cli("backup", "--data-dir", str(src), "--out", str(archive))
    assert "北京时间" in out.stdout and archive.exists()
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {"manifest.json", "node.json", "node_key.pem"} <= names
    assert manifest["node"]["code"] == "150000" and manifest["schema_revision"]
    assert set(manifest["members"]) == names - {"manifest.json"}
    # the archive is never written over without --force, nor into a missing folder
    _error_line(run_cli("backup", "--data-dir", str(src), "--out", str(archive), check=False))
    _error_line(run_cli("backup", "--data-dir", str(src), "--out",
                        str(tmp_path / "nope" / "b.tar.gz"), check=False))
    dest = tmp_path / "dest"
    args = ["restore", str(archive), "--dir", str(dest)]
    target_db = None
    if manifest["backend"] == "postgresql":
        target_db = await db_factory()  # a fresh database
        args += ["--database-url", target_db]
    out = run_cli(*args)
    assert "已恢复 restored 150000" in out.stdout
    cfg = json.loads((dest / "node.json").read_text("utf-8"))
    url = target_db or f"sqlite+aiosqlite:///{dest / 'plansync.db'}"
    after = await _snapshot(url)
    assert after["nodes"] == before["nodes"] and after["audit"] == before["audit"]
    assert after["epoch"] and after["epoch"] != before["epoch"]  # a new epoch
    assert (dest / "node_key.pem").read_bytes() == (src / "node_key.pem").read_bytes()
    if target_db:
        assert cfg["database_url"] == target_db
    # the restored node works: the CLI reads it
    assert "admin" in run_cli("users", "list", "--data-dir", str(dest)).stdout
    # an existing node is not replaced without --force; with it, it is
    _error_line(run_cli(*args, check=False))
    if target_db is None:
        run_cli(*args, "--force")


def _corrupt(archive: Path, to: Path) -> None:
    data = bytearray(gzip.decompress(archive.read_bytes()))
    i = data.find(b"SQLite format 3")
    if i < 0:
        i = len(data) // 2
    data[i + 2000] ^= 0xFF  # one byte of the database: tar and gzip stay valid
    to.write_bytes(gzip.compress(bytes(data)))


def _foreign(to: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'{"hello": "world"}'
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    to.write_bytes(buf.getvalue())


def _newer(archive: Path, to: Path) -> None:
    """A well-formed backup from a plansync with a schema this one does not know."""
    buf = io.BytesIO()
    with tarfile.open(archive) as src, tarfile.open(fileobj=buf, mode="w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "manifest.json":
                manifest = json.loads(data)
                manifest["schema_revision"] = "9999"
                data = json.dumps(manifest).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    to.write_bytes(buf.getvalue())


@pytest.mark.parametrize("kind", ["corrupt", "foreign", "garbage", "truncated", "traversal",
                                  "newer"])
async def test_bad_archive_changes_nothing(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "src"
    _init(src, f"sqlite+aiosqlite:///{tmp_path / 'src.db'}")
    good = tmp_path / "good.tar.gz"
    run_cli("backup", "--data-dir", str(src), "--out", str(good))
    bad = tmp_path / "bad.tar.gz"
    if kind == "corrupt":
        _corrupt(good, bad)
    elif kind == "foreign":
        _foreign(bad)
    elif kind == "garbage":
        bad.write_bytes(b"PK\x03\x04 not a plansync backup")
    elif kind == "newer":
        _newer(good, bad)
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    else:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("../escape.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        bad.write_bytes(buf.getvalue())
    # into a new directory: nothing appears
    fresh = tmp_path / "fresh"
    line = _error_line(run_cli("restore", str(bad), "--dir", str(fresh), check=False))
    assert "备份" in line
    if kind == "newer":
        assert "9999" in line and "newer" in line
    assert not fresh.exists() and not (tmp_path / "escape.txt").exists()
    # over an existing (stopped) node, even with --force: it stays exactly as it was
    files = {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()}
    _error_line(run_cli("restore", str(bad), "--dir", str(src), "--force", check=False))
    assert {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()} == files
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".plansync")) == []


# -- the hard case: a city restored from an older backup -------------------------------------

async def _rows(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            return {
                "ledger": [(e.envelope_id, e.filing_id, e.receiver, e.outcome)
                           for e in (await s.scalars(select(LedgerEntry))).all()],
                "filings": {f.id: (f.receipt_envelope_id, f.received_at, f.late_days)
                            for f in (await s.scalars(select(Filing))).all()},
                "reports": Counter((await s.scalars(select(ReceivedReport.id))).all()),
                "report_receipts": {r.id: r.receipt_envelope_id for r in (await s.scalars(
                    select(ReceivedReport).where(ReceivedReport.direct.is_(True)))).all()},
                "sent": {f.envelope_id: f.receipt_envelope_id
                         for f in (await s.scalars(select(SentFiling))).all()},
                "receipts": Counter(
                    (raw["body"]["filing_id"], raw["body"]["outcome"]) for raw in
                    (await s.scalars(select(EnvelopeRecord.raw).where(
                        EnvelopeRecord.type == "filing.receipt"))).all()),
            }
    finally:
        await engine.dispose()


async def _ledger_at(c: ProcessCluster, code: str, n: int) -> None:
    async def enough() -> bool:
        return len((await _rows(c.members[code].database_url))["ledger"]) >= n
    await c.wait_for(f"{n} ledger entries at {code}", enough, timeout=120)


async def _restored_seen(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            return [dict(e.after or {}) for e in (await s.scalars(select(AuditEntry).where(
                AuditEntry.action == "peer.restored", AuditEntry.entity_id == CITY))).all()]
    finally:
        await engine.dispose()


async def _still_reclaimed(url: str) -> int:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            return int(await s.scalar(select(func.count()).select_from(EnvelopeRecord).where(
                EnvelopeRecord.reclaimed.is_(True))) or 0)
    finally:
        await engine.dispose()


async def _no_repeats(c: ProcessCluster) -> None:
    """Nothing repeated anywhere: one ledger entry per (filing, receiver, outcome) at every
    node, one receipt per (filing, outcome), each filing and report once, and every filer's
    receipt is the one its receiver recorded."""
    rows = {code: await _rows(m.database_url) for code, m in c.members.items()}
    for code, r in rows.items():
        per = Counter((f, rcv, o) for _, f, rcv, o in r["ledger"])
        assert [k for k, n in per.items() if n > 1] == [], (code, "ledger repeated")
        assert [k for k, n in r["receipts"].items() if n > 1] == [], (code, "receipt repeated")
        assert [k for k, n in r["reports"].items() if n > 1] == [], (code, "report repeated")
    city = rows[CITY]
    for code, m in c.members.items():
        if m.parent != CITY:
            continue
        for filing_id, receipt_id in rows[code]["sent"].items():
            assert filing_id in city["filings"], (code, filing_id, "lost at the city")
            assert city["filings"][filing_id][0] == receipt_id, (code, filing_id)


async def _file_report(d: Driver, code: str, year: int) -> None:
    await d.call(code, "PUT", f"/api/v1/reports/women/{year}/values/{MMR}",
                 json={"numerator": 3, "denominator": 10000})
    await d.call(code, "PUT", f"/api/v1/reports/women/{year}/next-year",
                 json={"text": "继续加强危重孕产妇救治体系建设。"})
    await d.call(code, "POST", f"/api/v1/reports/women/{year}/file",
                 await d.director(code))


async def _reports_at(d: Driver, code: str) -> int:
    got = await d.call(code, "GET", "/api/v1/reports/received")
    return len(got)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_city_restored_from_an_older_backup_resynchronises(
        tmp_path: Path, backend: str) -> None:
    pg = None
    if backend == "postgres":
        await services.create_pg_database()  # skips (or fails in CI) without PostgreSQL
        pg = services.PG_ADMIN
    c = await ProcessCluster.create(tmp_path / "c", pick(CITY, limit_children=2), env=FAST,
                                    pg_admin=pg)
    fresh_db: str | None = None
    try:
        await c.start_all()
        await c.enrol_all()
        d = Driver(c)
        counties = sorted(m for m in c.members if c.members[m].parent == CITY)
        a, b = counties
        doc = women_doc()
        await d.publish("150000", doc, "2026-10-01")
        await d.publish(a, doc, "2026-10-20")
        await d.converge()

        # the backup, taken while the city serves
        city_dir = Path(c.members[CITY].data_dir)
        archive = tmp_path / "city.tar.gz"
        run_cli("backup", "--data-dir", str(city_dir), "--out", str(archive))
        held = await _rows(c.members["150000"].database_url)

        # work after the backup: a framework revision down, filings and a report up
        await d.publish("150000", None, "2026-11-03")  # v2 through the city
        await d.publish(a, None, "2026-11-05")  # a's revised plan: a second filing
        await d.publish(b, doc, "2026-11-06")
        await _file_report(d, b, 2025)
        # four answers of the city in the province's ledger (a v1, a v2, b's plan and report)
        await _ledger_at(c, "150000", len(held["ledger"]) + 3)
        await d.converge()
        prov_before = await _rows(c.members["150000"].database_url)
        counties_before = {k: await _rows(c.members[k].database_url) for k in counties}

        # a live node is never overwritten; then the city stops and is restored
        args = ["restore", str(archive), "--dir", str(city_dir), "--force"]
        if pg:
            from node.lab.harness import _create_pg

            fresh_db = await _create_pg(pg, CITY)
            args += ["--database-url", fresh_db]
        live = run_cli(*args, check=False)
        assert live.returncode != 0 and "正在运行" in live.stderr
        c.kill(CITY, 15)
        run_cli(*args)
        if fresh_db:
            old = c.members[CITY].database_url
            c.members[CITY].database_url = fresh_db
            fresh_db = old  # dropped with the others below
        restored = await _rows(c.members[CITY].database_url)
        assert len(restored["filings"]) == 1  # the older state: only a's first filing
        c.start(CITY)
        await c.wait_ready(CITY)

        # more work after the restore
        await d.publish("150000", None, "2026-11-10")  # v3
        await _file_report(d, a, 2025)
        rep = await d.converge(timeout=240)
        assert rep.counts["filings"] == 3  # a twice, b once: each exactly once at the city
        assert rep.counts["framework_versions"] >= 9  # v1..v3 at the city and both counties

        async def reports() -> bool:
            return await _reports_at(d, CITY) == 2 and await _reports_at(d, "150000") == 2
        await c.wait_for("both reports at the city and the province", reports, timeout=120)
        await _ledger_at(c, "150000", len(prov_before["ledger"]) + 1)  # a's report
        rep = await d.converge()
        await _no_repeats(c)
        # nothing the province and the counties held was answered a second time
        prov = await _rows(c.members["150000"].database_url)
        assert set(prov_before["ledger"]) <= set(prov["ledger"])
        assert len(prov["ledger"]) == len(prov_before["ledger"]) + 1, (
            prov_before["ledger"], prov["ledger"], prov["filings"], prov["reports"])  # a's report
        for k in counties:
            now = await _rows(c.members[k].database_url)
            for filing_id, receipt in counties_before[k]["sent"].items():
                assert now["sent"][filing_id] == receipt, (k, "answered again")
        # the city decided the re-offered filings on their first receipt time
        city = await _rows(c.members[CITY].database_url)
        for k in counties:
            for filing_id in counties_before[k]["sent"]:
                assert filing_id in city["filings"]
        # how: every neighbour saw the new epoch once, gave back what the city had signed
        # and re-offered what it had sent; the city used every answer it got back
        seen = {code: await _restored_seen(c.members[code].database_url)
                for code in ["150000", *counties]}
        assert all(len(v) == 1 for v in seen.values()), seen
        assert seen[b][0]["returned"] >= 2 and seen[b][0]["reoffered"] >= 2, seen
        assert seen["150000"][0]["returned"] >= 3, seen
        assert await _still_reclaimed(c.members[CITY].database_url) == 0
    finally:
        c.stop_all()
        if pg:
            await c.drop_databases()
            if fresh_db:
                await services.drop_pg_database(fresh_db)
        await asyncio.sleep(0)
