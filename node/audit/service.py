"""Append-only, hash-chained audit log.

Each row's hash is SHA-256 over the canonical JSON of (id, previous hash, time, actor, action,
entity, entity id, before, after). Ids are contiguous (assigned under a lock as last id + 1),
so a deleted row shows as a gap and a broken link, a modified row as a hash mismatch.
Rows are written in the same transaction as the change they describe.

The chain also covers the content of the business rows: each transaction that writes plans,
filings, ledger rows, reports or frameworks ends with one ``rows.seal`` entry holding a digest
of every such row it wrote (node.audit.seals), and :func:`verify_chain` names every row that
no longer matches its newest seal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from node.db import ORDER_LOCK
from node.models import AuditEntry
from sync import content_hash, format_ts, utcnow

GENESIS = "0" * 64
_HEAD = "plansync.audit.head"  # (transaction, id, hash) of the last entry it appended
_ACTOR = "plansync.audit.actor"  # (transaction, actor) of the last entry it appended


def entry_hash(
    *, id: int, prev_hash: str, at: datetime, actor: str, action: str, entity: str,
    entity_id: str, before: Any, after: Any,
) -> str:
    return content_hash({
        "id": id, "prev": prev_hash, "at": format_ts(at), "actor": actor, "action": action,
        "entity": entity, "entity_id": entity_id, "before": before, "after": after,
    })


def append(
    session: Session, *, actor: str, action: str, entity: str, entity_id: str,
    before: Any = None, after: Any = None,
) -> AuditEntry:
    """Append one entry in the session's transaction (the synchronous form of :func:`record`,
    for session events and migrations)."""
    txn = session.get_nested_transaction() or session.get_transaction()
    head = session.info.get(_HEAD)
    if head is not None and head[0] is txn:
        # this transaction appended the head itself and still holds the order (the lock on
        # PostgreSQL, the write lock on SQLite): no need to look it up again
        last_id, prev = head[1], head[2]
    else:
        if session.get_bind().dialect.name == "postgresql":  # node.db.order_lock
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ORDER_LOCK})
        last = session.execute(
            select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
        ).first()
        last_id, prev = (last[0], last[1]) if last else (0, GENESIS)
    new_id = last_id + 1
    at = utcnow()
    h = entry_hash(id=new_id, prev_hash=prev, at=at, actor=actor, action=action, entity=entity,
                   entity_id=entity_id, before=before, after=after)
    row = AuditEntry(id=new_id, at=at, actor=actor, action=action, entity=entity,
                     entity_id=entity_id, before=before, after=after, prev_hash=prev, hash=h)
    session.add(row)
    session.flush()
    session.info[_HEAD] = (txn, new_id, h)
    session.info[_ACTOR] = (session.get_transaction(), actor)
    return row


def last_actor(session: Session) -> str | None:
    """The actor of the last entry this transaction appended (it also signs the rows.seal)."""
    v = session.info.get(_ACTOR)
    return str(v[1]) if v is not None and v[0] is session.get_transaction() else None


async def record(
    *, session: AsyncSession, actor: str, action: str, entity: str, entity_id: str,
    before: Any = None, after: Any = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction."""

    def go(s: Session) -> AuditEntry:
        return append(s, actor=actor, action=action, entity=entity, entity_id=entity_id,
                      before=before, after=after)

    return await session.run_sync(go)
