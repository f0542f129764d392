"""The transactional outbox: envelopes written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession

from node.db import order_lock
from node.models import EnvelopeRecord, OutboxRow
from node.runtime import NodeRuntime
from sync import Directory, Envelope, Route, envelope_hash, parse_ts, route_outgoing, seal, utcnow


def outbox_rows(
    *, envelope_id: str, route: Route, directory: Directory, now: datetime
) -> list[dict[str, Any]]:
    """Rows queueing one envelope for the neighbours its route names."""
    rows = []
    if route.up and directory.parent is not None:
        rows.append({"envelope_id": envelope_id, "target_code": directory.parent,
                     "direction": "up", "status": "pending", "attempts": 0,
                     "next_attempt_at": now, "created_at": now})
    for child in route.down:
        rows.append({"envelope_id": envelope_id, "target_code": child, "direction": "down",
                     "status": "pending", "attempts": 0, "next_attempt_at": now,
                     "created_at": now})
    return rows


def envelope_row(
    env: Envelope, *, local: bool, receipt: dict[str, Any], content_hash: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": env["id"], "type": env["type"], "origin": env["origin"],
        "recipient_code": env["recipient"]["code"], "scope": env["recipient"]["scope"],
        "created_at": parse_ts(env["created_at"]), "received_at": now,
        "content_hash": content_hash, "local": local, "raw": env, "receipt": receipt,
    }


async def write(
    session: AsyncSession, envelopes: list[dict[str, Any]], outbox: list[dict[str, Any]]
) -> None:
    """Insert envelope rows, then their outbox rows, in bulk. Downward rows are the children's
    feed: they take the ordering lock so feed cursors never skip a row (see node.db)."""
    if envelopes:
        await session.execute(insert(EnvelopeRecord), envelopes)
    if outbox:
        if any(r["direction"] == "down" for r in outbox):
            await order_lock(session)
        await session.execute(insert(OutboxRow), outbox)


_KICK = "plansync_kick"


def kick_after_commit(session: AsyncSession, rt: NodeRuntime, targets: set[str]) -> None:
    """Remember the neighbours that got outbox rows in this transaction; the dispatcher is
    kicked once, after the commit (never for a rolled-back transaction). Callers never carry
    targets around: whoever queues through :func:`emit` or :func:`write` gets this for free."""
    if not targets or rt.dispatcher is None:
        return
    info = session.sync_session.info
    pending: set[str] | None = info.get(_KICK)
    if pending is None:
        pending = info[_KICK] = set()
        dispatcher = rt.dispatcher

        def fire(_: Any) -> None:
            todo = info.pop(_KICK, None)
            if todo:
                dispatcher.kick(todo)

        def drop(_: Any) -> None:
            info.pop(_KICK, None)

        event.listen(session.sync_session, "after_commit", fire)
        event.listen(session.sync_session, "after_rollback", drop)
    pending |= targets


async def emit(
    session: AsyncSession,
    rt: NodeRuntime,
    *,
    type: str,
    recipient: str,
    scope: str,
    body: dict[str, Any],
    directory: Directory | None = None,
) -> Envelope:
    """Create, sign and queue an envelope from this node, in the caller's transaction; its
    neighbours are kicked after the commit. A restored node that holds (given back by a
    neighbour) its own earlier answer to the same filing with the same outcome sends that
    one again instead (:func:`reclaimed_answer`)."""
    from node.protocol.directory import load_directory

    d = directory or await load_directory(session, rt.cfg.code)
    held = await reclaimed_answer(session, rt.cfg.code, type, body)
    if held is not None:  # restored: the answer given before the backup, not a second one
        old: Envelope = held.raw
        held.reclaimed = False
        rows = outbox_rows(envelope_id=old["id"], route=route_outgoing(old, d), directory=d,
                           now=utcnow())
        await write(session, [], rows)
        kick_after_commit(session, rt, {r["target_code"] for r in rows})
        return old
    env = seal(signer=rt.signer, origin=rt.cfg.code, type=type, recipient=recipient,
               scope=scope,  # type: ignore[arg-type]
               body=body)
    route = route_outgoing(env, d)
    now = utcnow()
    rows = outbox_rows(envelope_id=env["id"], route=route, directory=d, now=now)
    await write(session, [envelope_row(env, local=route.local, content_hash=envelope_hash(env),
                                       receipt={"id": env["id"], "status": "sent"}, now=now)],
                rows)
    kick_after_commit(session, rt, {r["target_code"] for r in rows})
    return env


async def carry_hashes(session: AsyncSession, code: str) -> list[str]:
    """Content hashes of what this node signed that a neighbour may still receive after a key
    rotation: envelopes with an undelivered outbox row, and the framework releases re-sent to
    every newly enrolled child. The rotation lists them; the retired key verifies nothing else
    (docs/protocol.md, Key rotation)."""
    from sqlalchemy import or_, select

    pending = select(OutboxRow.envelope_id).where(OutboxRow.status == "pending")
    rows = await session.scalars(
        select(EnvelopeRecord.content_hash).where(
            EnvelopeRecord.origin == code,
            or_(EnvelopeRecord.type == "framework.release", EnvelopeRecord.id.in_(pending))))
    return sorted(set(rows))


# -- epochs: how a neighbour notices this node was restored from a backup ---------------------
# (docs/protocol.md, "Restored nodes"). A node's epoch is a random id on its own row of
# `nodes`; `plansync restore` replaces it. The feed and every push answer carry it; a node
# that sees a neighbour's epoch change knows the neighbour lost what it took in since its
# backup, and re-offers it.

def new_epoch() -> str:
    import secrets

    return secrets.token_hex(16)


async def own_epoch(session: AsyncSession, code: str) -> str | None:
    """This node's epoch (made on first use; None before the node's own row exists)."""
    from node.models import KnownNode

    me = await session.get(KnownNode, code)
    if me is None:
        return None
    if not me.epoch:
        me.epoch = new_epoch()
    return me.epoch


async def renew_epoch(session: AsyncSession, code: str) -> str:
    """Give this node a new epoch (restore): its neighbours will give back what it signed
    and re-offer what they sent. A node with a parent first catches up with it (it answers
    pushes 503 until it has read its parent's feed to the end once, node.delivery.pull)."""
    from node.models import KnownNode

    me = await session.get(KnownNode, code)
    if me is None:
        raise LookupError(f"node {code} has no row of its own in this database")
    me.epoch = new_epoch()
    me.resync_since = utcnow() if me.parent_code is not None else None
    return me.epoch


async def note_peer_epoch(session: AsyncSession, peer: str, epoch: object) -> bool:
    """Record the epoch neighbour ``peer`` showed (its feed, its push answers, or — for a
    child — its signed feed request). If it differs from the one seen before, the neighbour
    was restored from an older backup and has lost what it took in since. This node then
    queues for it, in this order:

    1. **what the neighbour itself signed** that this node holds (its receipts, ledger
       entries, filings, releases): it takes them back as its own (node.protocol.inbox), so
       it answers a re-offered filing with the receipt it gave before, never a second one;
    2. for a parent, **every envelope this node ever delivered up to it** again (it drops
       what it still has as ``duplicate``), and the feed cursor on it goes back to 0: its new
       feed rows may reuse sequence numbers this node already read past.

    Downward, nothing needs re-offering: the restored child's own cursor went back with its
    database, so it reads again from its parent's feed everything queued after it.

    Nothing is trusted because of an epoch: it only makes this node send again envelopes that
    are signed and verified in full at the receiver. Returns whether it changed."""
    from sqlalchemy import select

    from node.audit.service import record
    from node.models import KnownNode

    if not isinstance(epoch, str) or not epoch or len(epoch) > 32:
        return False
    node = await session.get(KnownNode, peer)
    if node is None or node.relation not in ("parent", "child") or node.epoch == epoch:
        return False
    before, node.epoch = node.epoch, epoch
    if before is None:  # first sight (or a neighbour older than epochs): nothing to redo
        return False
    up = node.relation == "parent"
    direction = "up" if up else "down"
    own = (await session.scalars(
        select(EnvelopeRecord.id).where(EnvelopeRecord.origin == peer)
        .order_by(EnvelopeRecord.created_at, EnvelopeRecord.id))).all()
    again: list[str] = []
    if up:
        node.feed_cursor = 0
        seen: set[str] = set(own)
        for env_id in (await session.scalars(
                select(OutboxRow.envelope_id).where(
                    OutboxRow.target_code == peer, OutboxRow.direction == "up",
                    OutboxRow.status == "delivered").order_by(OutboxRow.seq))).all():
            if env_id not in seen:
                seen.add(env_id)
                again.append(env_id)
    now = utcnow()
    rows = [{"envelope_id": env_id, "target_code": peer, "direction": direction,
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for env_id in [*own, *again]]
    await write(session, [], rows)
    await record(session=session, actor="protocol", action="peer.restored", entity="node",
                 entity_id=peer, before={"epoch": before},
                 after={"epoch": epoch, "returned": len(own), "reoffered": len(again),
                        "feed_cursor_reset": up})
    import logging

    logging.getLogger("plansync.delivery").warning(
        "neighbour was restored from a backup; giving back what it signed and re-offering "
        "what it may have lost", extra={"peer": peer, "returned": len(own),
                                        "reoffered": len(again)})
    return True


# the answers a node derives from a filing: after a restore it gives the same signed answer
# again (the one its neighbours hold), never a second one
REUSABLE = ("filing.receipt", "ledger.entry")


async def reclaimed_answer(session: AsyncSession, code: str, type: str,
                           body: dict[str, Any]) -> EnvelopeRecord | None:
    """This node's own ``type`` envelope about the same filing with the same outcome, given
    back by a neighbour after a restore and not used again yet."""
    from sqlalchemy import select

    if type not in REUSABLE or not isinstance(body.get("filing_id"), str):
        return None
    for rec in (await session.scalars(select(EnvelopeRecord).where(
            EnvelopeRecord.origin == code, EnvelopeRecord.type == type,
            EnvelopeRecord.reclaimed.is_(True)).order_by(EnvelopeRecord.created_at))).all():
        b = rec.raw.get("body", {}) if isinstance(rec.raw, dict) else {}
        if b.get("filing_id") == body["filing_id"] and b.get("outcome") == body.get("outcome"):
            return rec
    return None


async def reclaimed_received_at(session: AsyncSession, code: str, filing_id: str
                                ) -> datetime | None:
    """When this node first received filing ``filing_id``, as its own answer (given back after
    a restore) states: a re-offered filing is decided on that time again, so the answer is
    the same."""
    from sqlalchemy import select

    for raw in (await session.scalars(select(EnvelopeRecord.raw).where(
            EnvelopeRecord.origin == code, EnvelopeRecord.type.in_(REUSABLE),
            EnvelopeRecord.reclaimed.is_(True)))).all():
        b = raw.get("body", {}) if isinstance(raw, dict) else {}
        if b.get("filing_id") == filing_id and isinstance(b.get("received_at"), str):
            return parse_ts(b["received_at"])
    return None
