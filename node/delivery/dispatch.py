"""Dispatchers: how outbox work gets started after a commit.

- InProcessDispatcher (no Redis): one asyncio task per node delivers kicked targets at once,
  sweeps the outbox every few seconds for anything due and pulls from the parent's feed.
- ArqDispatcher (Redis configured): enqueues ``deliver_target`` jobs; ``plansync worker`` runs
  them, plus the ``sweep_outbox`` and ``pull_parent`` cron jobs (node.delivery.worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from node.delivery.deliver import deliver_target, due_targets
from node.delivery.pull import pull_parent
from node.protocol.registry import Registry
from node.runtime import NodeRuntime

log = logging.getLogger("plansync.dispatch")


class Dispatcher:
    async def start(self) -> None:  # pragma: no cover - interface
        pass

    async def stop(self) -> None:  # pragma: no cover - interface
        pass

    def kick(self, targets: Iterable[str]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class InProcessDispatcher(Dispatcher):
    def __init__(self, rt: NodeRuntime, registry: Registry, *, pull: bool = True) -> None:
        self.rt = rt
        self.registry = registry
        self.pull = pull
        self._wake = asyncio.Event()
        self._kicked: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_pull = 0.0
        self.idle = asyncio.Event()

    async def start(self) -> None:
        if self.rt.settings.delivery_loop:
            self._task = asyncio.create_task(self._run(), name=f"delivery-{self.rt.cfg.code}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def kick(self, targets: Iterable[str]) -> None:
        new = set(targets)
        if new:
            self._kicked |= new
            self.idle.clear()
            self._wake.set()

    async def _run(self) -> None:
        s = self.rt.settings
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery loop error; retrying")
            if not self._kicked:
                self.idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=s.sweep_interval_seconds)
            self._wake.clear()

    async def run_once(self) -> None:
        now = time.monotonic()
        targets = set(self._kicked) | set(await due_targets(self.rt))
        self._kicked.clear()
        sem = asyncio.Semaphore(8)

        async def one(t: str) -> None:  # only due rows are sent: backoff lives in the table
            async with sem:
                await deliver_target(self.rt, t)
        await asyncio.gather(*(one(t) for t in sorted(targets)))
        if self.pull and now - self._last_pull >= self.rt.settings.pull_interval_seconds:
            self._last_pull = now
            await pull_parent(self.rt, self.registry)


class ArqDispatcher(Dispatcher):
    def __init__(self, rt: NodeRuntime, redis_url: str) -> None:
        self.rt = rt
        self.redis_url = redis_url
        self.pool: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        from arq import create_pool

        from node.delivery.worker import queue_name, redis_settings

        self.pool = await create_pool(redis_settings(self.redis_url),
                                      default_queue_name=queue_name(self.rt.cfg.code))

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.pool is not None:
            await self.pool.aclose()

    def kick(self, targets: Iterable[str]) -> None:
        for t in set(targets):
            task = asyncio.create_task(self.enqueue(t))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def enqueue(self, target: str, defer: float | None = None) -> None:
        try:
            from node.delivery.worker import job_id

            await self.pool.enqueue_job("deliver_target", target,
                                        _job_id=job_id(self.rt.cfg.code, target),
                                        _defer_by=defer)
        except Exception:  # Redis down: the sweeper re-queues from the outbox later
            log.warning("could not enqueue delivery; the sweeper will retry",
                        extra={"target": target})
