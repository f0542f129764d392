"""Delivery through a real arq worker on a real Redis, including a flushed Redis."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from arq.worker import Worker
from redis.asyncio import Redis
from sqlalchemy import select

from node.delivery.dispatch import ArqDispatcher
from node.delivery.worker import worker_settings
from node.models import OutboxRow
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.protocol_helpers import received_from, record, send


async def _run_worker_until(c: Cluster, code: str, cond, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    ws = worker_settings(c.cfgs[code], c.settings, c.registry(code), transport=c.transport)
    worker = Worker(**ws, burst=False, poll_delay=0.05, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        async with asyncio.timeout(timeout):
            while not await cond():
                await asyncio.sleep(0.05)
    finally:
        # stop gracefully: no new jobs, let running ones (a cron pull, a delivery) finish, then
        # close; cancelling a job mid-pipeline leaves an unclosed Redis pipeline behind
        worker.allow_pick_jobs = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                while any(not t.done() for t in worker.tasks.values()):
                    await asyncio.sleep(0.05)
        try:
            await worker.close()
        except asyncio.CancelledError:  # a job still running after 30 s was cancelled
            pass
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


async def _wait_enqueued(c: Cluster, code: str) -> None:
    disp = c.rt(code).dispatcher
    assert isinstance(disp, ArqDispatcher)
    while disp._tasks:
        await asyncio.sleep(0.01)


async def _delivered(c: Cluster, code: str, env_id: str) -> bool:
    async with c.rt(code).sessions() as s:
        row = await s.scalar(select(OutboxRow).where(OutboxRow.envelope_id == env_id))
    return row is not None and row.status == "delivered"


async def test_arq_worker_delivers_the_outbox(
    tmp_path: Path, db_factory: DbFactory, redis_url: str
) -> None:
    async with cluster(tmp_path, db_factory, redis={"150603": redis_url}) as c:
        env = await send(c, "150603", "plan.filing", "150600")
        await _wait_enqueued(c, "150603")
        r = Redis.from_url(redis_url)
        assert await r.exists("arq:job:plansync:150603:deliver:150600") == 1
        await r.aclose()
        await _run_worker_until(c, "150603", lambda: _delivered(c, "150603", env["id"]))
        assert await record(c, "150600", env["id"]) is not None


async def test_flushed_redis_is_recovered_by_the_sweeper(
    tmp_path: Path, db_factory: DbFactory, redis_url: str
) -> None:
    async with cluster(tmp_path, db_factory, redis={"150603": redis_url}) as c:
        env = await send(c, "150603", "plan.filing", "150600")
        await _wait_enqueued(c, "150603")
        r = Redis.from_url(redis_url)
        await r.flushdb()  # the queued job is lost
        await r.aclose()
        await _run_worker_until(c, "150603", lambda: _delivered(c, "150603", env["id"]))
        assert await record(c, "150600", env["id"]) is not None
        assert await received_from(c, "150600", "150603") == 1  # exactly one effect


async def test_nodes_sharing_a_redis_each_get_their_own_sweeps(
    tmp_path: Path, db_factory: DbFactory, redis_url: str
) -> None:
    """Two nodes' workers on one Redis database, both with queued jobs lost to a flush: each
    node's own sweeper must re-queue its own rows. (arq's default cron job ids are global to
    the database, so nodes raced for one id per second and one node starved for minutes.)"""
    codes = ("150603", "150602")
    async with cluster(tmp_path, db_factory, redis=dict.fromkeys(codes, redis_url)) as c:
        envs = {code: await send(c, code, "plan.filing", "150600") for code in codes}
        for code in codes:
            await _wait_enqueued(c, code)
        r = Redis.from_url(redis_url)
        await r.flushdb()  # both queued deliveries are lost: only the sweepers can help
        await r.aclose()
        names = {code: {cj.name for cj in worker_settings(
            c.cfgs[code], c.settings, c.registry(code))["cron_jobs"]} for code in codes}
        assert not names["150603"] & names["150602"]

        async def both() -> bool:
            return all([await _delivered(c, code, envs[code]["id"]) for code in codes])

        workers = [asyncio.create_task(_run_worker_until(c, code, both, timeout=20))
                   for code in codes]
        await asyncio.gather(*workers)
        for code in codes:
            assert await received_from(c, "150600", code) == 1
