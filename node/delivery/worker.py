"""The arq worker (`plansync worker`): delivery jobs, the outbox sweeper, the feed puller.

Jobs take ids, not objects (``deliver_target(ctx, target_code)``). arq is at-least-once and
loses queued jobs if Redis is flushed; the outbox table stays the source of truth and
``sweep_outbox`` re-queues every target with due rows.

A worker killed in the middle of a delivery job (SIGKILL, OOM, a lost machine) leaves arq's
in-progress marker behind, and arq lets nobody run that job id again until the marker expires
(``job_timeout`` + 10 s): deliveries to that one neighbour stalled for five minutes. So a
running delivery job keeps a short-lived heartbeat key alive, and the sweeper removes an
in-progress marker that is older than the heartbeat's lifetime and has no heartbeat: the job,
still queued, is then run by another worker within a second (tests/lab/test_scale_out.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from arq import Retry, cron
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix

from node.config import NodeConfig, Settings
from node.delivery.deliver import deliver_target as _deliver
from node.delivery.deliver import due_targets
from node.delivery.pull import pull_parent as _pull
from node.protocol.registry import Registry
from node.runtime import NodeRuntime

log = logging.getLogger("plansync.delivery")


def queue_name(code: str) -> str:
    return f"plansync:{code}:queue"


def job_id(code: str, target: str) -> str:
    """arq job ids are global to a Redis database: name the sending node as well, so nodes
    sharing one Redis never block each other's deliveries."""
    return f"plansync:{code}:deliver:{target}"


def cron_name(code: str, task: str) -> str:
    """A unique cron job's id is ``<name>:<scheduled ms>``, global to the Redis database: with
    arq's default name (``cron:<function>``) every node sharing a Redis raced for the same id
    each second, one won, and the others' sweeps were silently skipped — for minutes. The
    node's code in the name gives each node its own."""
    return f"cron:plansync:{code}:{task}"


JOB_TIMEOUT = 300  # seconds; arq's in-progress marker lives JOB_TIMEOUT + 10 s
HEARTBEAT_SECONDS = 10  # a delivery job's heartbeat key lives this long, renewed every third


def heartbeat_key(code: str, target: str) -> str:
    return f"plansync:{code}:alive:{target}"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def deliver_target(ctx: dict[str, Any], target: str) -> int:
    rt: NodeRuntime = ctx["rt"]
    redis = ctx["redis"]
    key = heartbeat_key(rt.cfg.code, target)

    async def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # Redis away for a moment: beat again later
                await redis.set(key, b"1", ex=HEARTBEAT_SECONDS)
            await asyncio.sleep(HEARTBEAT_SECONDS / 3)

    heart = asyncio.create_task(beat())
    try:
        out = await _deliver(rt, target)
    finally:
        heart.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heart
        with contextlib.suppress(Exception):
            await redis.delete(key)
    if out.retry_in is not None and out.retry_in > 0:
        raise Retry(defer=out.retry_in)
    return out.delivered


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    rt: NodeRuntime = ctx["rt"]
    targets = await due_targets(rt)
    for t in targets:
        jid = job_id(rt.cfg.code, t)
        job = await ctx["redis"].enqueue_job("deliver_target", t, _job_id=jid,
                                             _queue_name=queue_name(rt.cfg.code))
        if job is None:  # already queued or running: unless its worker died with it
            await release_orphan(ctx["redis"], jid, heartbeat_key(rt.cfg.code, t))
    return len(targets)


async def release_orphan(redis: Any, jid: str, heartbeat: str) -> bool:
    """Remove the in-progress marker of a delivery job whose worker died (no heartbeat for
    longer than the heartbeat lives); arq then runs the still queued job again."""
    marker = in_progress_key_prefix + jid
    left_ms = await redis.pttl(marker)
    if left_ms is None or left_ms < 0:  # no marker (queued, deferred) or no expiry
        return False
    running_ms = (JOB_TIMEOUT + 10) * 1000 - left_ms
    if running_ms <= HEARTBEAT_SECONDS * 1000 or await redis.exists(heartbeat):
        return False  # just started, or alive
    await redis.delete(marker)
    log.warning("delivery job of a dead worker released", extra={"job": jid})
    return True


async def pull_parent(ctx: dict[str, Any]) -> int:
    return await _pull(ctx["rt"], ctx["registry"])


def worker_settings(
    cfg: NodeConfig, settings: Settings, registry: Registry, *,
    transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, Any]:
    """arq worker settings for one node (its own queue name on a shared Redis)."""
    assert cfg.redis_url

    async def startup(ctx: dict[str, Any]) -> None:
        rt = NodeRuntime.open(cfg, settings, transport=transport)
        ctx["rt"] = rt
        ctx["registry"] = registry

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["rt"].close()

    every = max(1, int(settings.sweep_interval_seconds))
    return {
        "functions": [deliver_target],
        "cron_jobs": [
            cron(sweep_outbox, name=cron_name(cfg.code, "sweep_outbox"),
                 second=set(range(0, 60, every)), run_at_startup=True, unique=True),
            cron(pull_parent, name=cron_name(cfg.code, "pull_parent"), second={0, 30},
                 run_at_startup=True, unique=True),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(cfg.redis_url),
        "queue_name": queue_name(cfg.code),
        "max_tries": 1_000_000,
        "keep_result": 0,
        "job_timeout": JOB_TIMEOUT,
    }
