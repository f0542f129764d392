"""The transactional outbox: envelopes written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
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


async def emit(
    session: AsyncSession,
    rt: NodeRuntime,
    *,
    type: str,
    recipient: str,
    scope: str,
    body: dict[str, Any],
    directory: Directory | None = None,
) -> tuple[Envelope, set[str]]:
    """Create, sign and queue an envelope from this node, in the caller's transaction.
    Call ``rt.dispatcher.kick`` with the returned targets after the commit."""
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
    return env, {r["target_code"] for r in rows}
