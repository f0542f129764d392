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
    neighbours are kicked after the commit."""
    from node.protocol.directory import load_directory

    d = directory or await load_directory(session, rt.cfg.code)
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
