"""Faults on real processes, each ending with the whole-tree consistency check: every filing
exactly once at its parent, every ledger entry at every ancestor, every framework version at
every descendant, nothing dead, nothing left pending."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.lab.consistency import check_tree
from node.lab.harness import ProcessCluster, pick
from sync import Signer, seal
from tests import services
from tests.paths import SAMPLE

FAST = {"PLANSYNC_MAX_BACKOFF_SECONDS": "1", "PLANSYNC_SWEEP_INTERVAL_SECONDS": "0.3",
        "PLANSYNC_LOG_LEVEL": "INFO"}
pytestmark = pytest.mark.timeout(400)


def women_doc() -> dict[str, Any]:
    sample = json.loads(SAMPLE.read_text("utf-8"))
    return {"areas": [{"name": a} for a in sample["areas"]["women"]],
            "indicators": [i for i in sample["indicators"] if i["plan"] == "women"]}


class Driver:
    def __init__(self, c: ProcessCluster) -> None:
        self.c = c
        self.directors: dict[str, str] = {}

    async def call(self, code: str, method: str, path: str, token: str | None = None,
                   **kw: Any) -> Any:
        m = self.c.members[code]
        async with httpx.AsyncClient(base_url=m.url, timeout=60, headers={
                "Authorization": f"Bearer {token or m.token}"}) as cl:
            r = await cl.request(method, path, **kw)
        assert r.status_code < 400, (code, path, r.status_code, r.text)
        return r.json()

    async def director(self, code: str) -> str:
        if code not in self.directors:
            r = await self.call(code, "POST", "/api/v1/users",
                                json={"name": "director", "role": "reviewer"})
            self.directors[code] = r["token"]
        return self.directors[code]

    async def publish(self, code: str, doc: dict[str, Any] | None, released: str) -> None:
        pid = f"{code}-women"
        if doc is not None:
            await self.call(code, "POST", "/api/v1/plans/import",
                            json={"kind": "women", "title": "t", "document": doc})
        else:
            await self.call(code, "POST", f"/api/v1/plans/{pid}/revise")
        for step in ("consultation", "expert_review", "submit"):
            await self.call(code, "POST", f"/api/v1/plans/{pid}/steps/{step}")
        token = await self.director(code)
        await self.call(code, "POST", f"/api/v1/plans/{pid}/steps/approve", token)
        await self.call(code, "POST", f"/api/v1/plans/{pid}/publish", token,
                        json={"released_on": released})

    async def converge(self, timeout: float = 180) -> Any:
        dbs = {c: m.database_url for c, m in self.c.members.items()}
        parents = {c: m.parent for c, m in self.c.members.items()}
        rep = None

        async def ok() -> bool:
            nonlocal rep
            rep = await check_tree(dbs, parents)
            return rep.ok

        try:
            await self.c.wait_for("a consistent tree", ok, timeout=timeout)
        except RuntimeError:
            tails = {code: (Path(m.data_dir) / name).read_text(errors="replace")[-1500:]
                     for code, m in self.c.members.items()
                     for name in ("worker.log", "serve.log")
                     if (Path(m.data_dir) / name).exists()}
            raise AssertionError(f"not consistent: {rep.problems if rep else None}\n"
                                 f"log tails: {tails}") from None
        return rep


async def _cluster(tmp_path: Path, **kw: Any) -> ProcessCluster:
    c = await ProcessCluster.create(tmp_path / "c", pick("150600", limit_children=2), env=FAST,
                                    **kw)
    await c.start_all()
    await c.enrol_all()
    return c


async def test_kill_9_city_mid_delivery_then_restart(tmp_path: Path) -> None:
    c = await _cluster(tmp_path)
    try:
        d = Driver(c)
        doc = women_doc()
        await d.publish("150000", doc, "2026-10-01")
        await d.converge()
        counties = [m for m in c.members if c.members[m].level == "county"]
        await d.publish(counties[0], doc, "2026-11-01")
        c.kill("150600", signal.SIGKILL)  # no shutdown of any kind
        await d.publish(counties[1], doc, "2026-11-02")  # its filing waits in its outbox
        await d.publish("150000", None, "2026-11-03")  # v2 waits in the province's outbox
        await d.publish("150000", None, "2026-11-04")  # v3
        await asyncio.sleep(1.0)
        c.start("150600")
        await c.wait_ready("150600")
        rep = await d.converge()
        assert rep.counts["filings"] == 2
        # v1..v3 of the province at the city and both counties
        assert rep.counts["framework_versions"] >= 9
    finally:
        c.stop_all()


async def test_same_envelope_many_times_concurrently_on_postgresql(tmp_path: Path) -> None:
    await services.create_pg_database()  # skips (or fails in CI) without PostgreSQL
    c = await _cluster(tmp_path, pg_admin=services.PG_ADMIN)
    try:
        d = Driver(c)
        await d.publish("150000", women_doc(), "2026-10-01")
        await d.converge()
        county = next(m for m in c.members.values() if m.level == "county")
        signer = Signer.load(Path(county.data_dir) / "node_key.pem")
        env = seal(signer=signer, origin=county.code, type="plan.filing", recipient="150600",
                   body={"plan_id": f"{county.code}-women", "kind": "women", "version": 1,
                         "title": "t", "released_on": "2026-11-01", "document": women_doc()})
        url = c.members["150600"].url + "/sync/v1/envelopes"
        async with httpx.AsyncClient(timeout=60) as cl:
            rs = await asyncio.gather(*(cl.post(url, json={"envelopes": [env, env]})
                                        for _ in range(20)))
        statuses = [x["status"] for r in rs for x in r.json()["results"]]
        assert statuses.count("accepted") == 1 and statuses.count("duplicate") == 39
        receipts = {x["received_at"] for r in rs for x in r.json()["results"]}
        assert len(receipts) == 1  # the same receipt every time
        rep = await check_tree({k: m.database_url for k, m in c.members.items()},
                               {k: m.parent for k, m in c.members.items()}, drained=False)
        assert rep.ok, rep.problems
        from sqlalchemy import func, select

        from node.db import create_engine, session_factory
        from node.models import Filing, LedgerEntry

        engine = create_engine(c.members["150600"].database_url)
        async with session_factory(engine)() as s:
            assert await s.scalar(select(func.count()).select_from(Filing)) == 1
            assert await s.scalar(select(func.count()).select_from(LedgerEntry)) == 1
        await engine.dispose()
    finally:
        c.stop_all()
        await c.drop_databases()


async def test_redis_flushed_mid_run_with_arq_workers(tmp_path: Path, redis_url: str) -> None:
    from redis.asyncio import Redis

    c = await _cluster(tmp_path, redis_url=redis_url)
    r = Redis.from_url(redis_url)
    try:
        d = Driver(c)
        await d.publish("150000", women_doc(), "2026-10-01")
        await r.flushdb()
        counties = [m for m in c.members if c.members[m].level == "county"]
        for code in counties:
            await d.publish(code, women_doc(), "2026-11-01")
            await r.flushdb()
        await d.publish("150000", None, "2026-11-05")
        await r.flushdb()
        rep = await d.converge()
        assert rep.counts["filings"] == 2
    finally:
        await r.aclose()
        c.stop_all()


@pytest.mark.parametrize("late", [False, True])
async def test_parent_offline_across_the_filing_deadline(tmp_path: Path, late: bool) -> None:
    """The parent's receipt time counts: a filing sent on the due day to a parent that is
    offline is late if the parent only comes back the next day."""
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from node.db import transaction
    from node.models import Filing
    from node.plans import service as plans
    from node.plans.sheets import load_file
    from tests.cluster import cluster

    sh = ZoneInfo("Asia/Shanghai")

    async def sqlite() -> str:
        sqlite.n += 1  # type: ignore[attr-defined]
        return f"sqlite+aiosqlite:///{tmp_path / f'f{sqlite.n}.db'}"  # type: ignore[attr-defined]

    sqlite.n = 0  # type: ignore[attr-defined]
    tree = [("150000", "内蒙古自治区", "province", None),
            ("150600", "鄂尔多斯市", "city", "150000")]
    async with cluster(tmp_path, sqlite, tree) as c:
        rt = c.rt("150600")
        c.transport.offline.add("n150000.test")
        async with transaction(rt.sessions) as s:
            await plans.create_plan(session=s, code="150600", kind="women", title="t",
                                    document=load_file(SAMPLE, "women"), actor="e")
            for step in ("expert_review", "submit"):
                await plans.advance(session=s, plan_id="150600-women", step=step, actor="e")
            await plans.advance(session=s, plan_id="150600-women", step="approve", actor="d")
            await plans.publish(session=s, rt=rt, plan_id="150600-women",
                                released_on=date(2026, 10, 15), actor="d", is_admin=True)
        await c.settle(["150600"])  # the push fails: the province is offline on the due day
        c.transport.offline.clear()
        back = datetime(2026, 11, 16, 0, 30, tzinfo=sh) if late else \
            datetime(2026, 11, 15, 23, 0, tzinfo=sh)
        c.rt("150000").clock = lambda: back
        from sqlalchemy import select, update

        from node.models import OutboxRow
        from sync import utcnow

        async with transaction(rt.sessions) as s:
            await s.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        await c.settle()
        async with c.rt("150000").sessions() as s:
            (f,) = (await s.scalars(select(Filing))).all()
        assert f.due_on == date(2026, 11, 15)
        assert f.late_days == (1 if late else 0)


async def test_postgresql_restarted_mid_run(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess

    await services.create_pg_database()  # skips (or fails in CI) without PostgreSQL
    ctl = shutil.which("pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if ctl is None or not versions:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs pg_ctlcluster to restart PostgreSQL for this fault test")
        pytest.skip("pg_ctlcluster not available: cannot restart PostgreSQL here")
    c = await _cluster(tmp_path, pg_admin=services.PG_ADMIN)
    try:
        d = Driver(c)
        await d.publish("150000", women_doc(), "2026-10-01")
        counties = [m for m in c.members if c.members[m].level == "county"]
        await d.publish(counties[0], women_doc(), "2026-11-01")
        subprocess.run([ctl, "--skip-systemctl-redirect", versions[-1], "main", "restart",
                        "-m", "fast"], check=True, timeout=120)
        import asyncpg

        for _ in range(100):  # wait until PostgreSQL accepts connections again
            try:
                conn = await asyncpg.connect(services.PG_ADMIN, timeout=2)
                await conn.close()
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.2)
        for code in c.members:  # every node recovers its connections by itself
            await c.wait_ready(code, timeout=60)
        await d.publish(counties[1], women_doc(), "2026-11-02")
        await d.publish("150000", None, "2026-11-03")
        rep = await d.converge()
        sent = {}
        for code in counties:
            sent[code] = await d.call(code, "GET", "/api/v1/filings/sent")
        assert rep.counts["filings"] == 2, sent
    finally:
        c.stop_all()
        await c.drop_databases()
