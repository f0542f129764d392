"""NodeRuntime: everything a running node holds (engine, sessions, key, clients, dispatcher).

Created in the FastAPI lifespan, in the arq worker's startup and by CLI commands; closed there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from node.config import NodeConfig, Settings
from node.db import create_engine, session_factory
from node.ops.metrics import Metrics
from sync import Signer, SyncClient, utcnow


class Dispatcher(Protocol):
    """What the runtime needs of delivery (node.delivery.dispatch implements it): to be told
    which neighbours have new outbox rows, and to stop."""

    def kick(self, targets: Iterable[str]) -> None: ...

    async def stop(self) -> None: ...


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Identity of the key file's current content: inode, mtime and size."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@dataclass
class NodeRuntime:
    cfg: NodeConfig
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    _signer: Signer
    http: httpx.AsyncClient
    client: SyncClient
    dispatcher: Dispatcher | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # the node's clock for receipt times (replaceable in tests and simulations)
    clock: Callable[[], datetime] = utcnow
    extra: dict[str, object] = field(default_factory=dict)
    _key_stamp: tuple[int, int, int] | None = None

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
        rt = cls(
            cfg=cfg, settings=settings, engine=engine, sessions=session_factory(engine),
            _signer=Signer.load(cfg.key_path), http=http, client=SyncClient(http),
        )
        rt._key_stamp = _stamp(cfg.key_path)
        return rt

    @property
    def signer(self) -> Signer:
        """The node's current signing key. A key rotation by another process on the same data
        directory (``plansync keys rotate`` next to ``serve``) replaces ``node_key.pem``; the
        file is checked (one stat) whenever the key is used, and reloaded when it changed."""
        stamp = _stamp(self.cfg.key_path)
        if stamp is not None and stamp != self._key_stamp:
            try:
                self._signer = Signer.load(self.cfg.key_path)
            except (OSError, ValueError):  # replaced again under us: keep the key, retry
                return self._signer
            self._key_stamp = stamp
        return self._signer

    def reload_signer(self) -> None:
        self._key_stamp = None
        _ = self.signer

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        await self.http.aclose()
        await self.engine.dispose()
