"""One node on its own (a city with a parent and one child known), for unit tests of the
protocol layer on a real database, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.config import Settings, build_config
from node.db import transaction
from node.delivery.dispatch import InProcessDispatcher
from node.protocol.directory import add_key, upsert_node
from node.provision import provision
from node.runtime import NodeRuntime
from node.wiring import build_registry
from sync import Signer
from tests.conftest import DbFactory


class Node:
    """A city node (150600) whose parent (150000) and child (150603) are known, with keys."""

    def __init__(self, rt: NodeRuntime, parent: Signer, child: Signer) -> None:
        self.rt, self.parent, self.child = rt, parent, child
        self.registry = build_registry()


@pytest.fixture
async def node(tmp_path: Path, db_factory: DbFactory) -> AsyncIterator[Node]:
    cfg = build_config({"code": "150600", "name": "鄂尔多斯市", "level": "city",
                        "base_url": "http://n150600.test", "parent_url": "http://n150000.test",
                        "database_url": await db_factory(), "data_dir": str(tmp_path / "city")})
    await provision(cfg)
    rt = NodeRuntime.open(cfg, Settings(delivery_loop=False))
    parent, child = Signer.generate(), Signer.generate()
    async with transaction(rt.sessions) as s:
        await upsert_node(s, code="150000", name="内蒙古自治区", level="province", parent=None,
                          relation="parent", base_url="http://n150000.test")
        await upsert_node(s, code="150600", name="鄂尔多斯市", level="city", parent="150000",
                          relation="self")
        await upsert_node(s, code="150603", name="康巴什区", level="county", parent="150600",
                          relation="child", base_url="http://n150603.test")
        await add_key(s, code="150000", key_id=parent.key_id, public_key=parent.public_key)
        await add_key(s, code="150603", key_id=child.key_id, public_key=child.public_key)
    n = Node(rt, parent, child)
    rt.dispatcher = InProcessDispatcher(rt, n.registry)  # not started: kicks are recorded
    try:
        yield n
    finally:
        await rt.close()
