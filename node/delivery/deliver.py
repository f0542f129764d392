"""Delivering outbox rows to a neighbour: the same code runs in arq jobs and in-process.

A row is delivered when the neighbour answers ``accepted`` or ``duplicate``. A transient
failure (unreachable, timeout, 5xx) backs off every pending row of that neighbour with
exponential backoff and full jitter. A typed rejection is final (the row goes ``dead`` and
shows in /metrics) except for codes the neighbour may resolve later (it may not yet know the
origin's key). An answer with a new epoch (the neighbour was restored from a backup) puts
back what it may have lost (node.protocol.outbox.note_peer_epoch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from node.db import transaction
from node.models import EnvelopeRecord, KnownNode, OutboxRow
from node.protocol.outbox import note_peer_epoch
from node.runtime import NodeRuntime
from sync import PeerRejected, TransportError, backoff, utcnow

log = logging.getLogger("plansync.delivery")
RETRYABLE = {"unknown_origin", "unknown_key"}
BATCH = 200


@dataclass
class Outcome:
    delivered: int = 0
    dead: int = 0
    retry_in: float | None = None  # seconds until the next attempt is due, if any remain


async def _target_url(rt: NodeRuntime, target: str) -> str | None:
    async with rt.sessions() as session:
        node = await session.get(KnownNode, target)
    if node is None:
        return None
    if node.relation == "parent":
        return rt.cfg.parent_url
    return node.base_url


async def deliver_target(rt: NodeRuntime, target: str) -> Outcome:
    """Deliver every due row for ``target`` in seq order, in batches, until none is due."""
    out = Outcome()
    url = await _target_url(rt, target)
    if url is None:
        log.error("no URL for outbox target", extra={"target": target})
        return out
    while True:
        now = utcnow()
        async with rt.sessions() as session:
            rows = (await session.execute(
                select(OutboxRow.seq, OutboxRow.attempts, EnvelopeRecord.raw)
                .join(EnvelopeRecord, EnvelopeRecord.id == OutboxRow.envelope_id)
                .where(OutboxRow.target_code == target, OutboxRow.status == "pending",
                       OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.seq).limit(BATCH))).all()
        if not rows:
            out.retry_in = await _next_due_in(rt, target)
            return out
        try:
            results = await rt.client.push(url, [r.raw for r in rows])
        except TransportError as e:
            permanent = isinstance(e, PeerRejected) and e.status in (400, 413, 422)
            delay = backoff(rows[0].attempts, cap=rt.settings.max_backoff_seconds)
            rt.metrics.deliveries.labels("transient_error").inc()
            log.warning("delivery failed", extra={"target": target, "error": str(e),
                                                  "retry_in": round(delay, 2),
                                                  "batch": len(rows), "permanent": permanent})
            await _back_off(rt, target, [r.seq for r in rows], str(e), delay)
            out.retry_in = delay
            return out
        delivered, dead, retry = [], [], []
        for r, res in zip(rows, results, strict=True):
            status = res.get("status")
            if status in ("accepted", "duplicate"):
                delivered.append(r.seq)
            elif res.get("error", {}).get("code") in RETRYABLE:
                retry.append((r.seq, r.attempts, str(res.get("error"))))
            else:
                dead.append((r.seq, str(res.get("error"))))
        async with transaction(rt.sessions) as session:
            if delivered:
                await session.execute(update(OutboxRow).where(OutboxRow.seq.in_(delivered))
                                      .values(status="delivered", delivered_at=now,
                                              attempts=OutboxRow.attempts + 1))
            for seq, err in dead:
                await session.execute(update(OutboxRow).where(OutboxRow.seq == seq)
                                      .values(status="dead", last_error=err,
                                              attempts=OutboxRow.attempts + 1))
            for seq, attempts, err in retry:
                await session.execute(update(OutboxRow).where(OutboxRow.seq == seq).values(
                    attempts=attempts + 1, last_error=err,
                    next_attempt_at=now + timedelta(seconds=backoff(
                        attempts, cap=rt.settings.max_backoff_seconds))))
            await session.execute(update(KnownNode).where(KnownNode.code == target)
                                  .values(last_contact_at=now))
            epochs = {res.get("epoch") for res in results if isinstance(res, dict)}
            if len(epochs) == 1:  # a new one queues what it lost; the loop sends it next
                await note_peer_epoch(session, target, epochs.pop())
        rt.metrics.deliveries.labels("delivered").inc(len(delivered))
        if dead:
            rt.metrics.deliveries.labels("dead").inc(len(dead))
            log.error("envelopes rejected by neighbour", extra={"target": target, "rows": dead})
        out.delivered += len(delivered)
        out.dead += len(dead)


async def _back_off(rt: NodeRuntime, target: str, seqs: list[int], err: str, delay: float) -> None:
    until = utcnow() + timedelta(seconds=delay)
    async with transaction(rt.sessions) as session:
        await session.execute(update(OutboxRow).where(OutboxRow.seq.in_(seqs))
                              .values(attempts=OutboxRow.attempts + 1, last_error=err[:2000]))
        await session.execute(update(OutboxRow).where(
            OutboxRow.target_code == target, OutboxRow.status == "pending",
            OutboxRow.next_attempt_at < until).values(next_attempt_at=until))


async def _next_due_in(rt: NodeRuntime, target: str) -> float | None:
    async with rt.sessions() as session:
        nxt: datetime | None = await session.scalar(
            select(func.min(OutboxRow.next_attempt_at)).where(
                OutboxRow.target_code == target, OutboxRow.status == "pending"))
    if nxt is None:
        return None
    if nxt.tzinfo is None:  # aggregate results bypass the column type on SQLite
        from datetime import UTC

        nxt = nxt.replace(tzinfo=UTC)
    return max(0.0, (nxt - utcnow()).total_seconds())


async def due_targets(rt: NodeRuntime) -> list[str]:
    async with rt.sessions() as session:
        return list((await session.scalars(
            select(OutboxRow.target_code).where(OutboxRow.status == "pending",
                                                OutboxRow.next_attempt_at <= utcnow())
            .distinct())).all())


async def outbox_stats(rt: NodeRuntime) -> tuple[dict[str, int], float]:
    """Rows per status and the age in seconds of the oldest pending row."""
    async with rt.sessions() as session:
        counts = dict((await session.execute(
            select(OutboxRow.status, func.count()).group_by(OutboxRow.status))).all())
        oldest = await session.scalar(select(func.min(OutboxRow.created_at))
                                      .where(OutboxRow.status == "pending"))
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None:
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        age = (utcnow() - oldest).total_seconds()
    return {str(k): int(v) for k, v in counts.items()}, age
