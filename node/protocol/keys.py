"""Key rotation: a signed message, by the previous key, to the parent and the children."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy import update

from node.audit.service import record
from node.config import NodeConfig
from node.db import transaction
from node.errors import Conflict
from node.models import OwnKey
from node.runtime import NodeRuntime
from sync import Signer, format_ts, utcnow

log = logging.getLogger("plansync.keys")


STALE_PENDING_SECONDS = 300  # an uncommitted pending key older than this was abandoned


def pending_key_path(cfg: NodeConfig, key_id: str) -> Path:
    """Where a rotation writes the new private key until its announcement is committed
    (one file per rotation, so two processes rotating at once cannot mix their keys)."""
    return cfg.key_path.with_name(f"node_key.{key_id}.new.pem")


MAX_CARRY = 10_000  # schemas/types/key.rotation.schema.json: carry maxItems


async def rotate_key(rt: NodeRuntime, *, actor: str = "cli") -> tuple[str, str]:
    """Generate a new key; announce it up and down signed by the old one. Returns old, new ids.

    The new private key is written next to the old one first and only replaces it after the
    rotation messages are committed, so a crash leaves the node on a consistent key (a
    leftover ``node_key.<id>.new.pem`` is finished or removed by
    :func:`finish_pending_rotation` at the next start); a rotation that fails (or finds the
    key already rotated by another process: Conflict) leaves no ``.new.pem`` behind. Other
    processes on the same data directory (``serve`` next to the CLI) notice the new key file
    before they sign again (NodeRuntime.signer).

    Opens its own transaction: the caller must not hold one (on SQLite the node has a single
    pooled connection; see node.deps.require_unbound).
    """
    old = rt.signer
    new = Signer.generate()
    pending = pending_key_path(rt.cfg, new.key_id)
    new.save(pending)
    try:
        now = utcnow()
        body: dict[str, object] = {"node": rt.cfg.code, "previous_key_id": old.key_id,
                                   "key_id": new.key_id, "public_key": new.public_key,
                                   "rotated_at": format_ts(now)}
        from node.protocol.outbox import carry_hashes, emit

        async with transaction(rt.sessions) as session:
            # what the old key signed that may still be in transit or is re-sent to new children
            carry = await carry_hashes(session, rt.cfg.code)
            if len(carry) > MAX_CARRY:
                raise Conflict(
                    f"还有 {len(carry)} 份未送达的文件，请先送达再轮换密钥 {len(carry)} envelopes "
                    f"signed by the current key are not delivered yet (a rotation lists at most "
                    f"{MAX_CARRY}); let the outbox drain (plansync outbox status) and rotate then")
            body["carry"] = carry
            if rt.cfg.parent_url:
                await emit(session, rt, type="key.rotation", recipient=rt.cfg.code,
                           scope="ancestors", body=body)
            await emit(session, rt, type="key.rotation", recipient=rt.cfg.code,
                       scope="subtree", body=body)
            done = await session.execute(update(OwnKey).where(
                OwnKey.key_id == old.key_id, OwnKey.retired_at.is_(None)).values(retired_at=now))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"密钥 {old.key_id} 已被另一次轮换替换，未做任何更改 key "
                               f"{old.key_id} was rotated by another process meanwhile; "
                               "nothing changed (the node now signs with the newer key)")
            session.add(OwnKey(key_id=new.key_id, public_key=new.public_key, created_at=now))
            await record(session=session, actor=actor, action="key.rotate", entity="own_key",
                         entity_id=new.key_id, before={"key_id": old.key_id},
                         after={"key_id": new.key_id})
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    _install(rt.cfg, old, pending)
    rt.reload_signer()
    return old.key_id, new.key_id


def _install(cfg: NodeConfig, old: Signer, pending: Path) -> None:
    """Keep the old key as node_key.<id>.retired.pem and move the pending key into place."""
    old.save(cfg.key_path.with_name(f"node_key.{old.key_id}.retired.pem"))
    pending.replace(cfg.key_path)


async def finish_pending_rotation(rt: NodeRuntime) -> list[str]:
    """At start-up: a ``node_key.<id>.new.pem`` left by a rotation that stopped half-way is
    installed if its announcement was committed (the key is this node's unretired own key)
    and removed if it was not (once it is a few minutes old: a rotation by another process may
    be under way). Returns what was done, for the log."""
    done: list[str] = []
    for pending in sorted(rt.cfg.data_dir.glob("node_key.*new.pem")):
        try:
            new = Signer.load(pending)
        except (OSError, ValueError):
            new = None
        row = None
        if new is not None:
            async with rt.sessions() as session:
                row = await session.get(OwnKey, new.key_id)
        if new is not None and row is not None and row.retired_at is None \
                and new.key_id != rt.signer.key_id:
            _install(rt.cfg, rt.signer, pending)
            rt.reload_signer()
            done.append(f"installed {pending.name}: its rotation was committed")
            log.warning("finished an interrupted key rotation", extra={"key_id": new.key_id})
            continue
        try:
            stale = time.time() - pending.stat().st_mtime > STALE_PENDING_SECONDS
        except OSError:
            continue
        if stale or (new is not None and new.key_id == rt.signer.key_id):
            pending.unlink(missing_ok=True)
            done.append(f"removed {pending.name}: its rotation was never committed")
    return done
