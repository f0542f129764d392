"""Many real nodes in one process, connected by the lab's RoutingTransport (benchmarks and the
national simulation). Each node is a full app with its own SQLite database and key; delivery
runs in each node's in-process loop, exactly as in `plansync serve`.

Databases are copied from one migrated template, so building thousands of nodes does not run
the migrations thousands of times.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from node.app import create_app
from node.config import NodeConfig, Settings, build_config
from node.db import create_engine, transaction, upgrade
from node.divisions import division, tree_parent
from node.lab.transport import RoutingTransport
from node.provision import provision
from node.runtime import NodeRuntime
from node.wiring import build_registry


def url_of(code: str) -> str:
    return f"http://n{code}.sim"


class Simulation:
    def __init__(self, base: Path, settings: Settings | None = None) -> None:
        self.base = base
        self.settings = settings or Settings(sweep_interval_seconds=2.0,
                                             pull_interval_seconds=3600, log_level="WARNING")
        self.transport = RoutingTransport()
        self.apps: dict[str, FastAPI] = {}
        self.cfgs: dict[str, NodeConfig] = {}
        self._stack = contextlib.AsyncExitStack()
        self._template: Path | None = None
        self.registry = build_registry()  # the same handlers every node's app builds

    def rt(self, code: str) -> NodeRuntime:
        rt: NodeRuntime = self.apps[code].state.rt
        return rt

    async def _template_db(self) -> Path:
        if self._template is None:
            self.base.mkdir(parents=True, exist_ok=True)
            self._template = self.base / "template.db"
            engine = create_engine(f"sqlite+aiosqlite:///{self._template}")
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
        return self._template

    async def add(self, code: str) -> None:
        d = division(code)  # 000000 included: the optional national root
        if d is None:
            raise KeyError(f"{code} is not a GB/T 2260 code in divisions.json")
        up = tree_parent(code)  # a province's is 000000 (when it is simulated)
        parent = up if up in self.cfgs else None
        ddir = self.base / code
        cfg = build_config({"code": code, "name": d.name, "level": d.level,
                            "base_url": url_of(code),
                            "parent_url": url_of(parent) if parent else None,
                            "database_url": f"sqlite+aiosqlite:///{ddir / 'plansync.db'}",
                            "data_dir": str(ddir)})
        await provision(cfg, template_db=await self._template_db())
        app = create_app(cfg, self.settings, transport=self.transport)
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        self.apps[code] = app
        self.cfgs[code] = cfg
        self.transport.add(f"n{code}.sim", app)

    async def build(self, codes: list[str], progress: Callable[[int, int], Any] | None = None
                    ) -> None:
        for i, code in enumerate(codes):
            await self.add(code)
            if progress and (i + 1) % 100 == 0:
                progress(i + 1, len(codes))

    async def enrol(self, code: str) -> None:
        from datetime import timedelta

        from node.protocol.enrol import create_invite, enroll_with_parent

        parent = tree_parent(code)
        assert parent is not None
        prt = self.rt(parent)
        async with transaction(prt.sessions) as s:
            token = await create_invite(session=s, code=code, name=self.cfgs[code].name,
                                        actor="sim", ttl=timedelta(hours=1))
        await enroll_with_parent(self.rt(code), token)

    async def enrol_all(self, progress: Callable[[int, int], Any] | None = None) -> None:
        todo = [c for c in self.apps if tree_parent(c) in self.apps]
        for i, code in enumerate(todo):
            await self.enrol(code)
            if progress and (i + 1) % 100 == 0:
                progress(i + 1, len(todo))

    async def wait(self, what: str, check: Callable[[], Any], timeout: float,
                   every: float = 0.05) -> float:
        import asyncio

        t0 = time.monotonic()
        while not await check():
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(every)
        return time.monotonic() - t0

    async def close(self) -> None:
        await self._stack.aclose()


async def publish_plan(sim: Simulation, code: str, document: Any, *, released: Any,
                       title: str = "妇女发展规划") -> None:
    """Create (or revise) the node's women's plan, take it through review and publish it."""
    from node.models import Plan
    from node.plans import service

    rt = sim.rt(code)
    async with transaction(rt.sessions) as s:
        pid = service.plan_id_for(code, "women")
        if await s.get(Plan, pid) is None:
            await service.create_plan(session=s, code=code, kind="women", title=title,
                                      document=document, actor="sim")
        else:
            await service.revise(session=s, plan_id=pid, actor="sim")
        for step in ("expert_review", "submit"):
            await service.advance(session=s, plan_id=pid, step=step, actor="editor")
        await service.advance(session=s, plan_id=pid, step="approve", actor="director")
        await service.publish(session=s, rt=rt, plan_id=pid, released_on=released,
                              actor="director", is_admin=True)
