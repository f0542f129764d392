"""What this node knows of the tree, loaded from the database for verification and routing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.config import NodeConfig
from node.models import KnownNode, NodeKey, OwnKey
from sync import Directory, KeyInfo, Signer, utcnow


async def load_directory(session: AsyncSession, self_code: str) -> Directory:
    parents = dict((await session.execute(
        select(KnownNode.code, KnownNode.parent_code))).all())
    parents.setdefault(self_code, None)
    keys = {
        (k.code, k.key_id): KeyInfo(k.public_key, k.valid_until, frozenset(k.carry or ()))
        for k in (await session.scalars(select(NodeKey).where(NodeKey.status == "active"))).all()
    }
    return Directory(self_code=self_code, parents=parents, keys=keys)


async def ensure_self(session: AsyncSession, cfg: NodeConfig, signer: Signer) -> None:
    """Make sure this node's own row and current key are recorded (idempotent)."""
    me = await session.get(KnownNode, cfg.code)
    if me is None:
        session.add(KnownNode(code=cfg.code, name=cfg.name, level=cfg.level.value,
                              parent_code=None, relation="self", base_url=cfg.base_url))
    else:
        me.name, me.level, me.base_url = cfg.name, cfg.level.value, cfg.base_url
    if await session.get(OwnKey, signer.key_id) is None:
        session.add(OwnKey(key_id=signer.key_id, public_key=signer.public_key,
                           created_at=utcnow()))
    await session.flush()


async def upsert_node(
    session: AsyncSession, *, code: str, name: str, level: str, parent: str | None,
    relation: str, base_url: str | None = None,
) -> KnownNode:
    node = await session.get(KnownNode, code)
    if node is None:
        node = KnownNode(code=code, name=name, level=level, parent_code=parent, relation=relation,
                         base_url=base_url)
        session.add(node)
    else:
        node.name, node.level, node.parent_code, node.relation = name, level, parent, relation
        if base_url:
            node.base_url = base_url
    await session.flush()
    return node


async def add_key(session: AsyncSession, *, code: str, key_id: str, public_key: str,
                  status: str = "active") -> None:
    if await session.get(NodeKey, (code, key_id)) is None:
        session.add(NodeKey(code=code, key_id=key_id, public_key=public_key, added_at=utcnow(),
                            status=status))
        await session.flush()


def identity(cfg: NodeConfig, signer: Signer) -> dict[str, object]:
    from node import __version__
    from sync import PROTOCOL_VERSION

    return {
        "code": cfg.code, "name": cfg.name, "level": cfg.level.value,
        "public_key": signer.public_key, "key_id": signer.key_id,
        "protocol_version": PROTOCOL_VERSION, "software_version": __version__,
    }
