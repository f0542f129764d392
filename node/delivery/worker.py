"""The arq worker (`plansync worker`): delivery jobs, the outbox sweeper, the feed puller.

Jobs take ids, not objects (``deliver_target(ctx, target_code)``). arq is at-least-once and
loses queued jobs if Redis is flushed; the outbox table stays the source of truth and
``sweep_outbox`` re-queues every target with due rows.
"""

from __future__ import annotations

from typing import Any

import httpx
from arq import Retry, cron
from arq.connections import RedisSettings

from node.config import NodeConfig, Settings
from node.delivery.deliver import deliver_target as _deliver
from node.delivery.deliver import due_targets
from node.delivery.pull import pull_parent as _pull
from node.protocol.registry import Registry
from node.runtime import NodeRuntime


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


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def deliver_target(ctx: dict[str, Any], target: str) -> int:
    rt: NodeRuntime = ctx["rt"]
    out = await _deliver(rt, target)
    if out.retry_in is not None and out.retry_in > 0:
        raise Retry(defer=out.retry_in)
    return out.delivered


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    rt: NodeRuntime = ctx["rt"]
    targets = await due_targets(rt)
    for t in targets:
        await ctx["redis"].enqueue_job("deliver_target", t, _job_id=job_id(rt.cfg.code, t),
                                       _queue_name=queue_name(rt.cfg.code))
    return len(targets)


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
        "job_timeout": 300,
    }
