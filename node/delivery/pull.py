"""Pulling the parent's feed: the child's side of node.protocol.feed."""

from __future__ import annotations

import logging

from node.db import transaction
from node.models import KnownNode
from node.protocol.inbox import ingest
from node.protocol.outbox import note_peer_epoch, own_epoch
from node.protocol.registry import Registry
from node.runtime import NodeRuntime
from sync import TransportError, utcnow

log = logging.getLogger("plansync.feed")


async def pull_parent(rt: NodeRuntime, registry: Registry, *, limit: int = 500) -> int:
    """Catch up from the parent's feed; returns how many envelopes were read. Envelopes are
    ingested exactly like pushed ones; the cursor advances only after their batch committed.
    A page with another epoch than the parent showed before means the parent was restored
    from a backup: the cursor goes back to 0 and what went up to it is offered again."""
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
            epoch = await own_epoch(session, rt.cfg.code)
            resyncing = me is not None and me.resync_since is not None
        try:
            page = await rt.client.pull(rt.cfg.parent_url, signer=rt.signer, code=rt.cfg.code,
                                        after=cursor, limit=limit, epoch=epoch)
        except TransportError as e:
            log.info("pull from parent failed", extra={"error": str(e)})
            return total
        if page.get("epoch") is not None:
            async with transaction(rt.sessions) as session:
                if await note_peer_epoch(session, parent, page.get("epoch")):
                    continue  # the parent was restored: read its feed again from 0
        entries = page["entries"]
        if not entries:
            if resyncing:
                await _caught_up(rt)
            return total
        results = await ingest(rt, registry, [e["envelope"] for e in entries],
                               via=f"feed:{parent}")
        for entry, r in zip(entries, results, strict=True):
            if r["status"] == "rejected":
                log.warning("feed entry rejected",
                            extra={"seq": entry["seq"], "error": r["error"]})
        async with transaction(rt.sessions) as session:
            pnode = await session.get(KnownNode, parent)
            assert pnode is not None
            pnode.feed_cursor = max(pnode.feed_cursor, int(page["next_cursor"]))
            pnode.last_contact_at = utcnow()
        total += len(entries)
        if not page["more"]:
            if resyncing:
                await _caught_up(rt)
            return total


async def _caught_up(rt: NodeRuntime) -> None:
    """A restored node has read its parent's feed to the end — including what the parent
    gave back of its own, queued when the parent saw the new epoch in the first request: it
    takes pushes again (its children re-offer theirs now; docs/protocol.md)."""
    async with transaction(rt.sessions) as session:
        me = await session.get(KnownNode, rt.cfg.code)
        if me is not None and me.resync_since is not None:
            me.resync_since = None
            log.warning("caught up with the parent after a restore; taking pushes again")
