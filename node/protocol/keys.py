"""Key rotation: a signed message, by the previous key, to the parent and the children."""

from __future__ import annotations

from sqlalchemy import update

from node.audit.service import record
from node.db import transaction
from node.models import OwnKey
from node.runtime import NodeRuntime
from sync import Signer, format_ts, utcnow


async def rotate_key(rt: NodeRuntime) -> tuple[str, str]:
    """Generate a new key; announce it up and down signed by the old one. Returns old, new ids.

    The new private key is written next to the old one first and only replaces it after the
    rotation messages are committed, so a crash leaves the node on a consistent key.
    """
    old = rt.signer
    new = Signer.generate()
    pending = rt.cfg.key_path.with_suffix(".new.pem")
    new.save(pending)
    now = utcnow()
    body = {"node": rt.cfg.code, "previous_key_id": old.key_id, "key_id": new.key_id,
            "public_key": new.public_key, "rotated_at": format_ts(now)}
    from node.protocol.outbox import emit

    targets: set[str] = set()
    async with transaction(rt.sessions) as session:
        if rt.cfg.parent_url:
            _, t = await emit(session, rt, type="key.rotation", recipient=rt.cfg.code,
                              scope="ancestors", body=body)
            targets |= t
        _, t = await emit(session, rt, type="key.rotation", recipient=rt.cfg.code,
                          scope="subtree", body=body)
        targets |= t
        await session.execute(update(OwnKey).where(OwnKey.key_id == old.key_id)
                              .values(retired_at=now))
        session.add(OwnKey(key_id=new.key_id, public_key=new.public_key, created_at=now))
        await record(session=session, actor="cli", action="key.rotate", entity="own_key",
                     entity_id=new.key_id, before={"key_id": old.key_id},
                     after={"key_id": new.key_id})
    old_copy = rt.cfg.key_path.with_name(f"node_key.{old.key_id}.retired.pem")
    old.save(old_copy)
    pending.replace(rt.cfg.key_path)
    rt.reload_signer()
    if rt.dispatcher is not None:
        rt.dispatcher.kick(targets)
    return old.key_id, new.key_id
