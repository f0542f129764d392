"""The pull feed: a child reads, by cursor, everything queued for it (its outbox rows)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from node.db import transaction
from node.models import EnvelopeRecord, KnownNode, OutboxRow
from node.runtime import NodeRuntime
from sync import TransportError, utcnow

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


async def pull_parent(rt: NodeRuntime, *, limit: int = 500) -> int:
    """Catch up from the parent's feed; returns how many envelopes were read."""
    from node.protocol.inbox import ingest

    if not rt.cfg.parent_url:
        return 0
    total = 0
    while True:
        async with transaction(rt.sessions) as session:
            me = await session.get(KnownNode, rt.cfg.code)
            parent = me.parent_code if me else None
            if parent is None:
                return total  # not enrolled yet
            pnode = await session.get(KnownNode, parent)
            assert pnode is not None
            cursor = pnode.feed_cursor
        try:
            page = await rt.client.pull(rt.cfg.parent_url, signer=rt.signer, code=rt.cfg.code,
                                        after=cursor, limit=limit)
        except TransportError as e:
            log.info("pull from parent failed", extra={"error": str(e)})
            return total
        entries = page["entries"]
        if not entries:
            return total
        results, targets = await ingest(rt, [e["envelope"] for e in entries], via=f"feed:{parent}")
        for entry, r in zip(entries, results, strict=True):
            if r["status"] == "rejected":
                log.warning("feed entry rejected",
                            extra={"seq": entry["seq"], "error": r["error"]})
        async with transaction(rt.sessions) as session:
            pnode = await session.get(KnownNode, parent)
            assert pnode is not None
            pnode.feed_cursor = max(pnode.feed_cursor, int(page["next_cursor"]))
            pnode.last_contact_at = utcnow()
        if rt.dispatcher is not None and targets:
            rt.dispatcher.kick(targets)
        total += len(entries)
        if not page["more"]:
            return total
