"""The transactional outbox: envelopes written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from node.db import order_lock
from node.models import EnvelopeRecord, OutboxRow
from node.runtime import NodeRuntime
from sync import Directory, Envelope, Route, envelope_hash, parse_ts, route_outgoing, seal, utcnow


async def add_outbox(
    session: AsyncSession, *, envelope_id: str, route: Route, directory: Directory
) -> set[str]:
    """Queue one envelope for the neighbours its route names; return the target codes."""
    now = utcnow()
    targets: set[str] = set()
    if route.down:
        await order_lock(session)
    if route.up and directory.parent is not None:
        session.add(OutboxRow(envelope_id=envelope_id, target_code=directory.parent,
                              direction="up", next_attempt_at=now, created_at=now))
        targets.add(directory.parent)
    for child in route.down:
        session.add(OutboxRow(envelope_id=envelope_id, target_code=child, direction="down",
                              next_attempt_at=now, created_at=now))
        targets.add(child)
    return targets


def store_envelope(
    session: AsyncSession, env: Envelope, *, local: bool, receipt: dict[str, Any]
) -> EnvelopeRecord:
    rec = EnvelopeRecord(
        id=env["id"], type=env["type"], origin=env["origin"],
        recipient_code=env["recipient"]["code"], scope=env["recipient"]["scope"],
        created_at=parse_ts(env["created_at"]), received_at=utcnow(),
        content_hash=envelope_hash(env), local=local, raw=env, receipt=receipt,
    )
    session.add(rec)
    return rec


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
    """Create, sign and queue an envelope from this node. Call ``rt.dispatcher.kick`` with
    the returned targets after the commit."""
    from node.protocol.directory import load_directory

    d = directory or await load_directory(session, rt.cfg.code)
    env = seal(signer=rt.signer, origin=rt.cfg.code, type=type, recipient=recipient,
               scope=scope,  # type: ignore[arg-type]
               body=body)
    rt_route = route_outgoing(env, d)
    store_envelope(session, env, local=rt_route.local,
                   receipt={"id": env["id"], "status": "sent"})
    await session.flush()
    targets = await add_outbox(session, envelope_id=env["id"], route=rt_route, directory=d)
    await session.flush()
    return env, targets
