"""Several nodes in one process, connected by the lab's RoutingTransport over
httpx.ASGITransport (real node code, real DBs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from node.app import create_app
from node.config import NodeConfig, Settings, build_config
from node.db import transaction
from node.lab.transport import RoutingTransport
from node.protocol.registry import Registry
from node.provision import provision
from node.runtime import NodeRuntime


def host_of(code: str) -> str:
    return f"n{code}.test"


def url_of(code: str) -> str:
    return f"http://{host_of(code)}"


async def make_node_config(
    tmp: Path, code: str, name: str, level: str, parent: str | None, database_url: str,
    redis_url: str | None = None,
) -> NodeConfig:
    ddir = tmp / code
    cfg = build_config({
        "code": code, "name": name, "level": level, "base_url": url_of(code),
        "parent_url": url_of(parent) if parent else None, "database_url": database_url,
        "redis_url": redis_url, "data_dir": str(ddir),
    })
    await provision(cfg)
    return cfg


class Cluster:
    def __init__(self, transport: RoutingTransport, settings: Settings) -> None:
        self.transport = transport
        self.settings = settings
        self.apps: dict[str, FastAPI] = {}
        self.cfgs: dict[str, NodeConfig] = {}
        self._stack = contextlib.AsyncExitStack()

    def rt(self, code: str) -> NodeRuntime:
        rt: NodeRuntime = self.apps[code].state.rt
        return rt

    def registry(self, code: str) -> Registry:
        registry: Registry = self.apps[code].state.registry
        return registry

    async def start(self, cfg: NodeConfig, *, dispatch: bool = True) -> FastAPI:
        app = create_app(cfg, self.settings, transport=self.transport, dispatch=dispatch)
        await self._stack.enter_async_context(app.router.lifespan_context(app))
        self.apps[cfg.code] = app
        self.cfgs[cfg.code] = cfg
        self.transport.add(host_of(cfg.code), app)
        return app

    def client(self, code: str, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(transport=self.transport, base_url=url_of(code),
                                 headers=headers)

    async def close(self) -> None:
        await self._stack.aclose()

    async def enrol(self, parent: str, child: str) -> dict[str, Any]:
        """Invite on the parent and enrol the child, through the real endpoints."""
        from datetime import timedelta

        from node.protocol.enrol import create_invite, enroll_with_parent

        prt = self.rt(parent)
        async with transaction(prt.sessions) as session:
            token = await create_invite(session=session, code=child,
                                        name=self.cfgs[child].name, actor="test",
                                        ttl=timedelta(hours=1))
        return await enroll_with_parent(self.rt(child), token)

    async def settle(self, codes: Iterable[str] | None = None, rounds: int = 20) -> None:
        """Run delivery on every node until no outbox row is due anywhere."""
        from node.delivery.deliver import due_targets

        for _ in range(rounds):
            busy = False
            for code in list(codes or self.apps):
                rt = self.rt(code)
                if await due_targets(rt):
                    busy = True
                    assert rt.dispatcher is not None
                    await rt.dispatcher.run_once()  # type: ignore[attr-defined]
            if not busy:
                return
        raise AssertionError("outbox did not settle")


TREE = [
    ("150000", "内蒙古自治区", "province", None),
    ("150600", "鄂尔多斯市", "city", "150000"),
    ("150603", "康巴什区", "county", "150600"),
    ("150602", "东胜区", "county", "150600"),
]


@contextlib.asynccontextmanager
async def cluster(
    tmp: Path, db_factory: Callable[[], Any], nodes: list[tuple[str, str, str, str | None]] = TREE,
    *, enrol: bool = True, settings: Settings | None = None, redis: dict[str, str] | None = None,
) -> AsyncIterator[Cluster]:
    # an app's unhandled error is raised into the test, not hidden in a 500
    transport = RoutingTransport(raise_app_exceptions=True)
    # background loops idle; tests drive delivery with settle() for determinism
    settings = settings or Settings(delivery_loop=False, pull_interval_seconds=3600)
    c = Cluster(transport, settings)
    try:
        for code, name, level, parent in nodes:
            cfg = await make_node_config(tmp, code, name, level, parent, await db_factory(),
                                         redis_url=(redis or {}).get(code))
            await c.start(cfg)
        if enrol:
            for code, _, _, parent in nodes:
                if parent:
                    await c.enrol(parent, code)
            await c.settle()
        yield c
    finally:
        await c.close()
