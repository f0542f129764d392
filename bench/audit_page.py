"""The 督查审计 page's server time for a subtree holding the 2,851 counties of the real tree.

    .venv/bin/python bench/audit_page.py [--runs 5] [--pg postgresql://postgres@127.0.0.1/postgres]

One node (150000) whose known subtree is every city and county of divisions.json (333 cities
and 2,851 counties re-parented under it, so one office oversees all of them), with ledger rows
for most offices' plan filings and 2021–2025 annual reports (on time, late, returned; about a
fifth missing, so overdue). Measured in one process through the ASGI app, median of --runs:

- the first page (50 rows, overdue first) of ``GET /api/v1/oversight/filings``;
- a filtered page (county, overdue, one city) and a sorted one (days late, descending);
- the XLSX of every overdue row;
- the overview (cards and the whole tree).

Baseline in the same run: loading the same node and ledger rows through the same engine
(``SELECT`` of both tables into ORM objects), the floor of any Python-side audit.
Budget (issue #13): ≤ 1 s for the first page of results.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from node.app import create_app  # noqa: E402
from node.auth.service import create_user, issue_token  # noqa: E402
from node.config import Settings, build_config  # noqa: E402
from node.db import transaction  # noqa: E402
from node.divisions import divisions  # noqa: E402
from node.models import KnownNode, LedgerEntry  # noqa: E402
from node.plans.dates import annual_report_due  # noqa: E402
from node.provision import provision  # noqa: E402
from sync import new_id  # noqa: E402

SELF = "150000"


async def seed(app_rt: object) -> tuple[int, int]:
    rt = app_rt
    rng = random.Random(7)
    divs = divisions()
    cities = [d for d in divs.values() if d.level == "city"]
    counties = [d for d in divs.values() if d.level == "county"]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    nodes = [{"code": d.code, "name": d.name, "level": d.level,
              "parent_code": SELF if d.level == "city" else d.parent, "relation":
              "child" if d.level == "city" else "descendant", "base_url": None,
              "enrolled_at": datetime(2021, 1, 1, tzinfo=UTC), "last_contact_at": now}
             for d in cities + counties if d.code != SELF]
    ledger = []
    for d in cities + counties:
        receiver = SELF if d.level == "city" else (d.parent or SELF)
        items: list[tuple[str, int | None, date]] = [("women", None, date(2022, 3, 1)),
                                                     ("children", None, date(2022, 3, 1))]
        items += [(k, y, annual_report_due(y)) for y in range(2021, 2026)
                  for k in ("women", "children")]
        for kind, year, due in items:
            if rng.random() < 0.2:
                continue  # never filed: overdue
            late = rng.choice([0, 0, 0, 0, 1, 3, 14, 40])
            returned = rng.random() < 0.05
            for outcome in (["returned", "accepted"] if returned else ["accepted"]):
                ledger.append({
                    "envelope_id": new_id(), "filing_id": new_id(),
                    "filing_type": "plan.filing" if year is None else "report.filing",
                    "kind": kind, "year": year, "subject": f"{d.code}-{kind}",
                    "filer": d.code, "receiver": receiver,
                    "received_at": datetime.combine(due + timedelta(days=late),
                                                    datetime.min.time(), UTC),
                    "due_on": due, "outcome": outcome, "late_days": late})
    async with transaction(rt.sessions) as s:  # type: ignore[attr-defined]
        await s.execute(insert(KnownNode), nodes)
        for i in range(0, len(ledger), 2000):
            await s.execute(insert(LedgerEntry), ledger[i:i + 2000])
    return len(nodes), len(ledger)


async def main(runs: int, pg: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="plansync-audit-bench-"))
    url = f"sqlite+aiosqlite:///{tmp}/n.db"
    if pg:
        import asyncpg

        admin = await asyncpg.connect(pg)
        await admin.execute("DROP DATABASE IF EXISTS plansync_bench_audit")
        await admin.execute("CREATE DATABASE plansync_bench_audit")
        await admin.close()
        url = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") \
            + "/plansync_bench_audit"
    cfg = build_config({"code": SELF, "name": "内蒙古自治区", "level": "province",
                        "base_url": "http://bench", "database_url": url, "data_dir": str(tmp)})
    await provision(cfg)
    app = create_app(cfg, Settings(delivery_loop=False, key_check_interval_seconds=0))
    async with app.router.lifespan_context(app):
        rt = app.state.rt
        n_nodes, n_ledger = await seed(rt)
        async with transaction(rt.sessions) as s:
            u = await create_user(session=s, name="auditor", role="auditor", password=None,
                                  actor="bench")
            token = await issue_token(session=s, user=u, label="bench", actor="bench")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bench", timeout=120,
                                     headers={"Authorization": f"Bearer {token}"}) as cl:

            async def timed(path: str, **params: object) -> tuple[float, httpx.Response]:
                """Median of warm runs (the audit's rows cached between pages)."""
                ts = []
                r = None
                for _ in range(runs):
                    t = time.perf_counter()
                    r = await cl.get(path, params=params)
                    ts.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text[:300]
                assert r is not None
                return statistics.median(ts), r

            async def baseline() -> float:
                ts = []
                for _ in range(runs):
                    t = time.perf_counter()
                    async with rt.sessions() as s:
                        (await s.scalars(select(KnownNode))).all()
                        (await s.scalars(select(LedgerEntry))).all()
                    ts.append(time.perf_counter() - t)
                return statistics.median(ts)

            base = await baseline()
            t0 = time.perf_counter()  # nothing cached yet: the audit computed in full
            r = await cl.get("/api/v1/oversight/filings", params={"size": 50})
            cold = time.perf_counter() - t0
            assert r.status_code == 200, r.text[:300]
            first, r = await timed("/api/v1/oversight/filings", size=50)
            total = r.json()["total"]
            city = next(c["code"] for c in r.json()["cities"])
            filt, rf = await timed("/api/v1/oversight/filings", level="county",
                                   status="overdue", city=city)
            srt, _ = await timed("/api/v1/oversight/filings", sort="late_days", order="desc")
            xl, rx = await timed("/api/v1/oversight/filings", status="overdue", format="xlsx")
            ov, _ = await timed("/api/v1/oversight/overview", year=2025)
    counties = sum(1 for d in divisions().values() if d.level == "county")
    print(f"subtree: {n_nodes} offices ({counties} counties), {n_ledger} ledger rows, "
          f"{total} expected filings; "
          f"{'PostgreSQL' if pg else 'SQLite'}; median of {runs}")
    print(f"{'measure':<46}{'seconds':>9}{'x baseline':>12}")
    for name, v in [("baseline: load nodes + ledger through the ORM", base),
                    ("first page, cold (the audit computed)", cold),
                    ("first page (50 rows, overdue first), warm", first),
                    (f"filtered: county, overdue, city {city} ({rf.json()['total']} rows)", filt),
                    ("sorted: days late, descending", srt),
                    (f"XLSX of every overdue row ({len(rx.content) // 1024} kB)", xl),
                    ("overview (cards + whole tree)", ov)]:
        print(f"{name:<46}{v:>9.3f}{v / base:>11.1f}x")
    print(f"budget: first page <= 1 s: cold {'met' if cold <= 1 else 'NOT met'}, "
          f"warm {'met' if first <= 1 else 'NOT met'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pg", default=None)
    a = ap.parse_args()
    asyncio.run(main(a.runs, a.pg))
