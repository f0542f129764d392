"""NodeRuntime: everything a running node holds (engine, sessions, key, clients, dispatcher).

Created in the FastAPI lifespan, in the arq worker's startup and by CLI commands; closed there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from node.config import NodeConfig, Settings
from node.db import create_engine, session_factory
from node.ops.metrics import Metrics
from sync import Signer, SyncClient, utcnow

if TYPE_CHECKING:
    from node.delivery.dispatch import Dispatcher


@dataclass
class NodeRuntime:
    cfg: NodeConfig
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    signer: Signer
    http: httpx.AsyncClient
    client: SyncClient
    dispatcher: Dispatcher | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # the node's clock for receipt times (replaceable in tests and simulations)
    clock: Callable[[], datetime] = utcnow
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        cfg: NodeConfig,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> NodeRuntime:
        settings = settings or Settings()
        engine = create_engine(cfg.database_url)
        http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(30.0, connect=5.0),
            headers={"User-Agent": f"plansync-node/{cfg.code}"},
        )
        return cls(
            cfg=cfg, settings=settings, engine=engine, sessions=session_factory(engine),
            signer=Signer.load(cfg.key_path), http=http, client=SyncClient(http),
        )

    def reload_signer(self) -> None:
        self.signer = Signer.load(self.cfg.key_path)

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.http.aclose()
        await self.engine.dispose()
