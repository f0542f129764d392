"""Append-only, hash-chained audit log.

Each row's hash is SHA-256 over the canonical JSON of (id, previous hash, time, actor, action,
entity, entity id, before, after). Ids are contiguous (assigned under a lock as last id + 1),
so a deleted row shows as a gap and a broken link, a modified row as a hash mismatch.
Rows are written in the same transaction as the change they describe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.db import order_lock
from node.models import AuditEntry
from sync import content_hash, format_ts, utcnow

GENESIS = "0" * 64


def entry_hash(
    *, id: int, prev_hash: str, at: datetime, actor: str, action: str, entity: str,
    entity_id: str, before: Any, after: Any,
) -> str:
    return content_hash({
        "id": id, "prev": prev_hash, "at": format_ts(at), "actor": actor, "action": action,
        "entity": entity, "entity_id": entity_id, "before": before, "after": after,
    })


async def record(
    *, session: AsyncSession, actor: str, action: str, entity: str, entity_id: str,
    before: Any = None, after: Any = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction."""
    await order_lock(session)
    last = (await session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    )).first()
    new_id = (last[0] + 1) if last else 1
    prev = last[1] if last else GENESIS
    at = utcnow()
    h = entry_hash(id=new_id, prev_hash=prev, at=at, actor=actor, action=action, entity=entity,
                   entity_id=entity_id, before=before, after=after)
    row = AuditEntry(id=new_id, at=at, actor=actor, action=action, entity=entity,
                     entity_id=entity_id, before=before, after=after, prev_hash=prev, hash=h)
    session.add(row)
    await session.flush()
    return row


@dataclass
class VerifyReport:
    rows: int = 0
    head: str = GENESIS
    last_id: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """``<last id>:<head hash>``: record it; ``audit verify --expect`` checks it later."""
        return f"{self.last_id}:{self.head}"

    @property
    def ok(self) -> bool:
        return not self.problems


async def _rows(session: AsyncSession) -> AsyncIterator[AuditEntry]:
    result = await session.stream_scalars(select(AuditEntry).order_by(AuditEntry.id))
    async for row in result:
        yield row


def parse_anchor(text: str) -> tuple[int, str]:
    """``<id>:<hash>`` as printed by ``audit verify``."""
    ident, _, h = text.partition(":")
    if not ident.isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"not an audit anchor: {text!r}; expected <row id>:<64 hex digits> "
                         "as printed by `plansync audit verify`")
    return int(ident), h


async def verify_chain(*, session: AsyncSession,
                       expect: tuple[int, str] | None = None) -> VerifyReport:
    """Walk the whole chain; name every modified row and every gap left by a deleted one.

    Deleting the newest rows leaves a shorter chain that is intact in itself; ``expect``, an
    anchor recorded earlier (``<id>:<hash>``), catches that: the row must still be there with
    the same hash."""
    rep = VerifyReport()
    expected_id, prev = 1, GENESIS
    async for row in _rows(session):
        rep.rows += 1
        if row.id != expected_id:
            missing = (f"row {expected_id}" if row.id == expected_id + 1
                       else f"rows {expected_id}–{row.id - 1}")
            rep.problems.append(f"{missing} deleted: the chain jumps to row {row.id}")
        elif row.prev_hash != prev:
            rep.problems.append(f"row {row.id}: link to row {row.id - 1} broken (prev_hash)")
        h = entry_hash(id=row.id, prev_hash=row.prev_hash, at=row.at, actor=row.actor,
                       action=row.action, entity=row.entity, entity_id=row.entity_id,
                       before=row.before, after=row.after)
        if h != row.hash:
            rep.problems.append(
                f"row {row.id} modified: content does not match its hash "
                f"({row.action} {row.entity} {row.entity_id})"
            )
        if expect is not None and row.id == expect[0] and row.hash != expect[1]:
            rep.problems.append(f"row {row.id} is not the row recorded as head "
                                f"{expect[0]}:{expect[1][:12]}…: the chain was rewritten")
        expected_id, prev = row.id + 1, row.hash
        rep.last_id = row.id
    rep.head = prev
    if expect is not None and rep.last_id < expect[0]:
        rep.problems.append(f"rows {rep.last_id + 1}–{expect[0]} deleted: the chain ends at row "
                            f"{rep.last_id}, before the recorded head {expect[0]}")
    return rep
