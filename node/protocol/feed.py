"""The pull feed: a child reads, by cursor, everything queued for it (its outbox rows).
The child's side, pulling its parent's feed, is node.delivery.pull.

Every page carries this node's ``epoch``: cursors are sequence numbers of this node's outbox,
and only mean something within one epoch (a restore from a backup starts a new one; the
child then reads again from 0, docs/protocol.md "Restored nodes")."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from node.db import transaction
from node.models import EnvelopeRecord, KnownNode, OutboxRow
from node.protocol.outbox import note_peer_epoch, own_epoch
from node.runtime import NodeRuntime
from sync import utcnow

log = logging.getLogger("plansync.feed")


async def read_feed(rt: NodeRuntime, *, child: str, after: int, limit: int,
                    epoch: str | None = None) -> dict[str, Any]:
    """The child's next page. ``epoch`` is the child's own, named in its signed request: a
    new one (the child was restored from a backup) first queues into this feed what the
    child signed and this node holds (node.protocol.outbox.note_peer_epoch)."""
    limit = max(1, min(limit, rt.settings.max_batch))
    async with transaction(rt.sessions) as session:
        if epoch is not None:
            await note_peer_epoch(session, child, epoch)
        rows = (await session.execute(
            select(OutboxRow.seq, EnvelopeRecord.raw)
            .join(EnvelopeRecord, EnvelopeRecord.id == OutboxRow.envelope_id)
            .where(OutboxRow.target_code == child, OutboxRow.direction == "down",
                   OutboxRow.seq > after)
            .order_by(OutboxRow.seq).limit(limit + 1))).all()
        node = await session.get(KnownNode, child)
        if node is not None:
            node.last_contact_at = utcnow()
        epoch = await own_epoch(session, rt.cfg.code)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"entries": [{"seq": seq, "envelope": raw} for seq, raw in rows],
            "next_cursor": rows[-1][0] if rows else after, "more": more, "epoch": epoch}
