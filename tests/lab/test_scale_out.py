"""One province node served by two `plansync serve` replicas and two `plansync worker`s that
share one PostgreSQL database and one Redis (docs/operations.md, "Several replicas on one
database"), with real processes: four city nodes push to the replicas (two cities' parent_url
is replica A, two's is replica B); replica A and worker 1 are killed with SIGKILL mid-run
and started again; at the end the whole-tree consistency check finds nothing lost and
nothing duplicated."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from node.db import create_engine, session_factory
from node.delivery.worker import job_id
from node.lab.harness import ProcessCluster, answers_as, free_port, pick
from node.models import OutboxRow
from tests import services
from tests.lab.test_faults import FAST, Driver, women_doc

pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres, pytest.mark.redis]

PROVINCE = "150000"
METRICS_TOKEN = "scale-out-metrics-token-0123456789"


class Replicas:
    """The province's processes: serve replicas and workers on one data directory (node.json
    and node_key.pem), one database and one Redis, started and killed one by one."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.env = data_dir, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, port: int | None = None) -> None:
        if name.startswith("serve"):
            self.ports[name] = port or self.ports[name]
            args = ["serve", "--data-dir", str(self.data_dir), "--port", str(self.ports[name])]
        else:
            args = ["worker", "--data-dir", str(self.data_dir)]
        with open(self.data_dir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "node", *args], stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env}, start_new_session=True)

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait(15)

    async def wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as cl:
            while time.monotonic() < deadline:
                p = self.procs[name]
                if p.poll() is not None:
                    raise AssertionError(f"{name} exited ({p.returncode}): "
                                         f"{(self.data_dir / f'{name}.log').read_text()[-2000:]}")
                if await answers_as(cl, self.url(name), PROVINCE):
                    return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{name} not ready after {timeout}s")

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-1500:]}"
                         for f in sorted(self.data_dir.glob("*.log")))


async def pushes_received(url: str) -> float:
    """POST /sync/v1/envelopes answered by this replica since it started (its /metrics,
    behind the token)."""
    async with httpx.AsyncClient(timeout=10) as cl:
        r = await cl.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200, r.text
        assert (await cl.get(f"{url}/metrics")).status_code == 401
    total = 0.0
    for line in r.text.splitlines():
        if (line.startswith("plansync_http_requests_total{")
                and 'method="POST"' in line and 'route="/sync/v1/envelopes"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def count(db_url: str, model: Any) -> int:
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def failed_push(db_url: str) -> bool:
    """Has this city an outbox row for its parent that failed at least once, undelivered?"""
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as s:
            return bool(await s.scalar(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.direction == "up", OutboxRow.status == "pending",
                OutboxRow.attempts > 0)))
    finally:
        await engine.dispose()


async def in_progress(redis_url: str) -> list[str]:
    """arq's in-progress markers of the province's delivery jobs (what a killed worker
    leaves behind)."""
    from redis.asyncio import Redis

    r = Redis.from_url(redis_url)
    try:
        keys = await r.keys(f"arq:in-progress:plansync:{PROVINCE}:deliver:*")
        return sorted(k.decode() for k in keys)
    finally:
        await r.aclose()


def holder(reps: Replicas, jid: str) -> str | None:
    """The worker running arq job ``jid`` now, from the workers' logs (started, not ended)."""
    for name in ("worker-1", "worker-2"):
        log = reps.data_dir / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count(f"→ {jid}:") > text.count(f"← {jid}:"):
            return name
    return None


async def no_marker(redis_url: str, jid: str) -> bool:
    return f"arq:in-progress:{jid}" not in await in_progress(redis_url)


async def test_two_replicas_two_workers_one_database_kill_9_mid_run(
        tmp_path: Path, redis_url: str) -> None:
    await services.drop_pg_database(await services.create_pg_database())  # skip/fail early
    t0 = time.monotonic()
    marks: list[tuple[str, float]] = []
    codes = pick(PROVINCE, depth=1, limit_children=4)  # the province and four cities
    # the cities deliver in-process (no Redis); only the province runs the arq layout
    c = await ProcessCluster.create(tmp_path / "c", codes, pg_admin=services.PG_ADMIN, env=FAST)
    prov = c.members[PROVINCE]
    reps = Replicas(Path(prov.data_dir), {
        **FAST, "PLANSYNC_REDIS_URL": redis_url, "PLANSYNC_METRICS_TOKEN": METRICS_TOKEN,
        "PLANSYNC_PULL_INTERVAL_SECONDS": "5", "PLANSYNC_LOG_LEVEL": "INFO"})
    cities = [code for code in codes if code != PROVINCE]
    frozen: list[str] = []
    try:
        reps.start("serve-a", prov.port)  # replica A: the URL in node.json
        reps.start("serve-b", free_port())
        reps.start("worker-1")
        reps.start("worker-2")
        # cities 1 and 3 know the province as replica A, cities 2 and 4 as replica B
        via = {code: ("serve-a" if i % 2 == 0 else "serve-b") for i, code in enumerate(cities)}
        for code in cities:
            path = Path(c.members[code].data_dir) / "node.json"
            node = json.loads(path.read_text("utf-8"))
            node["parent_url"] = reps.url(via[code])
            path.write_text(json.dumps(node, ensure_ascii=False), "utf-8")
            c.start(code)
        await reps.wait_ready("serve-a")
        await reps.wait_ready("serve-b")
        for code in cities:
            await c.wait_ready(code)
        await c.enrol_all()  # through replica A or B, as each city's parent_url says
        marks.append(('processes up, enrolled', time.monotonic() - t0))
        d = Driver(c)
        doc = women_doc()
        await d.publish(PROVINCE, doc, "2026-10-01")  # v1, through replica A
        await d.converge(timeout=60)

        # mid-run, made deterministic: city X is frozen (SIGSTOP) so that the province's
        # delivery job for it hangs inside a worker; the province releases v2 through replica
        # A while the other cities file their plans; then replica A and the worker holding X's
        # job die (SIGKILL) with that job in flight, and X wakes up
        marks.append(('v1 converged', time.monotonic() - t0))
        x = cities[-1]
        jid = job_id(PROVINCE, x)
        os.kill(c.members[x].pid or 0, signal.SIGSTOP)
        frozen.append(x)
        others = cities[:-1]
        await asyncio.gather(*(d.publish(code, doc, "2026-11-01") for code in others),
                             d.publish(PROVINCE, None, "2026-11-02"))
        await c.wait_for(f"a worker delivering to the frozen {x}",
                         lambda: asyncio.sleep(0, holder(reps, jid)), timeout=30)
        victim = holder(reps, jid)
        assert victim is not None
        reps.kill("serve-a")
        reps.kill(victim)
        killed_at = time.monotonic()
        marks.append(('killed', killed_at - t0))
        assert f"arq:in-progress:{jid}" in await in_progress(redis_url)  # orphaned now
        os.kill(c.members[x].pid or 0, signal.SIGCONT)
        frozen.remove(x)
        # while A and that worker are down: A's cities file again (their pushes fail and back
        # off), X files its plan (to B), the province releases v3 through B
        prov.port = reps.ports["serve-b"]
        on_a = [code for code in cities if via[code] == "serve-a"]
        await asyncio.gather(*(d.publish(code, None, "2026-11-03") for code in on_a),
                             d.publish(x, doc, "2026-11-03"),
                             d.publish(PROVINCE, None, "2026-11-04"))
        for code in on_a:
            await c.wait_for(f"{code} failing to reach replica A",
                             lambda code=code: failed_push(c.members[code].database_url),
                             timeout=30)
        marks.append(('pushes to A failing', time.monotonic() - t0))
        reps.start("serve-a")
        reps.start(victim)
        await reps.wait_ready("serve-a")
        prov.port = reps.ports["serve-a"]
        await d.publish(PROVINCE, None, "2026-11-05")  # v4, through the restarted replica A
        # a live worker's sweeper has released (or soon releases) the dead worker's job, for
        # lack of a heartbeat: X's deliveries resume long before arq's own marker would have
        # expired (310 s after the job started)
        await c.wait_for(f"the orphaned job for {x} released",
                         lambda: no_marker(redis_url, jid), timeout=40)
        released_after = time.monotonic() - killed_at
        marks.append(('released', time.monotonic() - t0))
        rep = await d.converge(timeout=60)
        assert rep.ok, rep.problems
        # nothing lost, nothing twice: every filing exactly once (check_tree), and all of them
        assert rep.counts["filings"] == len(cities) + len(on_a)
        assert rep.counts["framework_versions"] >= 4 * len(cities)  # v1..v4 at every city
        # both replicas took pushes from their cities (A: the retries after its restart)
        assert await pushes_received(reps.url("serve-a")) > 0
        assert await pushes_received(reps.url("serve-b")) > 0
        marks.append(("converged", time.monotonic() - t0))
        print(f"{victim} killed holding {jid}; released after {released_after:.1f}s; "
              + ", ".join(f"{what} {at:.1f}s" for what, at in marks))
    except BaseException:
        print(reps.logs())
        raise
    finally:
        for code in frozen:
            os.kill(c.members[code].pid or 0, signal.SIGCONT)
        reps.stop_all()
        c.stop_all()
        await c.drop_databases()
    print(f"scale-out test: {time.monotonic() - t0:.1f}s")


async def test_only_a_dead_workers_job_is_released(redis_url: str) -> None:
    """node.delivery.worker.release_orphan, on a real Redis: an in-progress marker is removed
    only when it is older than the heartbeat's lifetime and has no heartbeat."""
    from arq.connections import create_pool

    from node.delivery.worker import (
        HEARTBEAT_SECONDS,
        JOB_TIMEOUT,
        heartbeat_key,
        redis_settings,
        release_orphan,
    )

    pool = await create_pool(redis_settings(redis_url))
    jid, beat = job_id(PROVINCE, "150100"), heartbeat_key(PROVINCE, "150100")
    marker = f"arq:in-progress:{jid}"
    full_ms = (JOB_TIMEOUT + 10) * 1000
    try:
        assert not await release_orphan(pool, jid, beat)  # no marker: queued or deferred
        await pool.psetex(marker, full_ms - 1000, b"1")  # started a second ago
        assert not await release_orphan(pool, jid, beat)
        await pool.psetex(marker, full_ms - (HEARTBEAT_SECONDS + 5) * 1000, b"1")
        await pool.set(beat, b"1", ex=HEARTBEAT_SECONDS)  # running 15 s, alive
        assert not await release_orphan(pool, jid, beat)
        assert await pool.exists(marker)
        await pool.delete(beat)  # running 15 s, no heartbeat: its worker died
        assert await release_orphan(pool, jid, beat)
        assert not await pool.exists(marker)
    finally:
        await pool.delete(marker, beat)
        await pool.aclose()
