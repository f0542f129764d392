"""The pull feed: a child reads, by cursor, everything queued for it (its outbox rows).
The child's side, pulling its parent's feed, is node.delivery.pull."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from node.db import transaction
from node.models import EnvelopeRecord, KnownNode, OutboxRow
from node.runtime import NodeRuntime
from sync import utcnow

log = logging.getLogger("plansync.feed")


async def read_feed(rt: NodeRuntime, *, child: str, after: int, limit: int) -> dict[str, Any]:
    limit = max(1, min(limit, rt.settings.max_batch))
    async with transaction(rt.sessions) as session:
        rows = (await session.execute(
            select(OutboxRow.seq, EnvelopeRecord.raw)
            .join(EnvelopeRecord, EnvelopeRecord.id == OutboxRow.envelope_id)
            .where(OutboxRow.target_code == child, OutboxRow.direction == "down",
                   OutboxRow.seq > after)
            .order_by(OutboxRow.seq).limit(limit + 1))).all()
        node = await session.get(KnownNode, child)
        if node is not None:
            node.last_contact_at = utcnow()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"entries": [{"seq": seq, "envelope": raw} for seq, raw in rows],
            "next_cursor": rows[-1][0] if rows else after, "more": more}
