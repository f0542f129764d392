"""Receiving envelopes: idempotent, verified, applied and relayed in one transaction.

Per envelope: duplicate check (same id: same content → the stored receipt; different content
→ ``id_conflict``), full verification (sync.verify), then store, apply the type's handler if
the envelope is for this node, and queue relays (unchanged) to the parent or children.
Handlers validate before they write: a Rejected raised by a handler must leave nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.db import order_lock, transaction
from node.models import EnvelopeRecord, KnownNode, NodeKey
from node.protocol.directory import add_key, load_directory, upsert_node
from node.protocol.outbox import envelope_row, outbox_rows, write
from node.runtime import NodeRuntime
from sync import (
    Directory,
    Envelope,
    ErrorCode,
    KeyInfo,
    Rejected,
    envelope_hash,
    format_ts,
    parse_ts,
    utcnow,
    verify,
)

log = logging.getLogger("plansync.inbox")


@dataclass
class Context:
    session: AsyncSession
    rt: NodeRuntime
    directory: Directory
    env: Envelope
    targets: set[str]
    # rows a handler adds in bulk: inserted with the batch's envelope rows, after them
    bulk: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)

    def insert_later(self, table: Any, row: dict[str, Any]) -> None:
        """Queue a plain row for the batch's bulk insert (cheaper than an ORM object for
        high-volume, write-only rows such as ledger entries)."""
        self.bulk.setdefault(table, []).append(row)


Handler = Callable[[Context], Awaitable[dict[str, Any] | None]]
HANDLERS: dict[str, Handler] = {}


def handles(type_name: str) -> Callable[[Handler], Handler]:
    """Register the effect of an envelope type at its recipient. A handler may return extra
    receipt fields."""

    def deco(fn: Handler) -> Handler:
        HANDLERS[type_name] = fn
        return fn

    return deco


@handles("node.enrolled")
async def _node_enrolled(ctx: Context) -> None:
    b = ctx.env["body"]
    # the origin (an enrolled descendant) vouches for its new child
    if b["parent"] != ctx.env["origin"]:
        raise Rejected(ErrorCode.schema_violation,
                       "node.enrolled may only announce the origin's own child", "/body/parent")
    existing = ctx.directory.parents.get(b["code"], b["parent"])
    if b["code"] == ctx.directory.self_code or existing != b["parent"]:
        raise Rejected(ErrorCode.enrol_mismatch,
                       f"node {b['code']} is already known under another parent", "/body/code")
    await upsert_node(ctx.session, code=b["code"], name=b["name"], level=b["level"],
                      parent=b["parent"], relation="descendant")
    await add_key(ctx.session, code=b["code"], key_id=b["key_id"], public_key=b["public_key"])
    ctx.directory.parents[b["code"]] = b["parent"]
    ctx.directory.keys[(b["code"], b["key_id"])] = KeyInfo(b["public_key"])
    return None


@handles("key.rotation")
async def _key_rotation(ctx: Context) -> None:
    b = ctx.env["body"]
    origin = ctx.env["origin"]
    if b["node"] != origin or b["previous_key_id"] != ctx.env["key_id"]:
        raise Rejected(ErrorCode.schema_violation,
                       "a key rotation must be signed by the node's previous key", "/body")
    rotated = parse_ts(b["rotated_at"])
    await ctx.session.execute(
        update(NodeKey).where(NodeKey.code == origin, NodeKey.key_id == b["previous_key_id"])
        .values(valid_until=rotated))
    await add_key(ctx.session, code=origin, key_id=b["key_id"], public_key=b["public_key"])
    old = ctx.directory.keys[(origin, b["previous_key_id"])]
    ctx.directory.keys[(origin, b["previous_key_id"])] = KeyInfo(old.public_key, rotated)
    ctx.directory.keys[(origin, b["key_id"])] = KeyInfo(b["public_key"])
    return None


def _rejected(env_id: Any, e: Rejected) -> dict[str, Any]:
    return {"id": env_id if isinstance(env_id, str) else None, "status": "rejected",
            "error": e.as_dict()}


async def ingest(rt: NodeRuntime, docs: list[Any], *, via: str = "push"
                 ) -> tuple[list[dict[str, Any]], set[str]]:
    """Receive a batch. Returns one result per envelope and the neighbours to kick.

    The accepted envelopes of a batch are one audit entry (``envelopes.receive``, actor
    ``protocol:<via>``, their ids, types and origins): one hash-chain link per batch keeps
    the audit log complete without a link per envelope on the ingest path."""
    import node.plans.service  # noqa: F401  (registers the domain handlers)
    import node.reports.service  # noqa: F401

    results: list[dict[str, Any]] = []
    targets: set[str] = set()
    s = rt.settings
    async with transaction(rt.sessions) as session:
        await order_lock(session)
        directory = await load_directory(session, rt.cfg.code)
        ids = [d["id"] for d in docs if isinstance(d, dict) and isinstance(d.get("id"), str)]
        stored: dict[str, tuple[str, Any]] = {}
        if ids:
            for rid, h, rcpt in (await session.execute(
                select(EnvelopeRecord.id, EnvelopeRecord.content_hash, EnvelopeRecord.receipt)
                .where(EnvelopeRecord.id.in_(ids)))).all():
                stored[rid] = (h, rcpt)
        touched: set[str] = set()
        env_rows: list[dict[str, Any]] = []
        out_rows: list[dict[str, Any]] = []
        bulk: dict[Any, list[dict[str, Any]]] = {}
        # one receipt time for the batch: the moment it is taken in, under the lock
        now = utcnow()
        received_at = format_ts(now)
        for doc in docs:
            env_id = doc.get("id") if isinstance(doc, dict) else None
            try:
                if isinstance(env_id, str) and env_id in stored:
                    h, rcpt = stored[env_id]
                    if h == envelope_hash(doc):
                        results.append({**rcpt, "status": "duplicate"})
                        rt.metrics.envelopes.labels(doc.get("type"), "duplicate").inc()
                        continue
                    raise Rejected(ErrorCode.id_conflict,
                                   f"envelope {env_id} was already received with other content",
                                   "/id")
                checked = verify(doc, directory=directory, max_body_bytes=s.max_body_bytes,
                                 max_skew=timedelta(seconds=s.max_clock_skew_seconds))
                route = checked.route
                env: Envelope = doc
                receipt: dict[str, Any] = {
                    "id": env["id"], "status": "accepted", "receiver": rt.cfg.code,
                    "received_at": received_at,
                }
                ctx = Context(session, rt, directory, env, targets)
                if route.local and (handler := HANDLERS.get(env["type"])) is not None:
                    extra = await handler(ctx)
                    if extra:
                        receipt.update(extra)
                    for table, rows_ in ctx.bulk.items():  # only once the handler succeeded
                        bulk.setdefault(table, []).extend(rows_)
                env_rows.append(envelope_row(env, local=route.local, receipt=receipt,
                                             content_hash=checked.content_hash, now=now))
                rows = outbox_rows(envelope_id=env["id"], route=route, directory=directory,
                                   now=now)
                out_rows.extend(rows)
                targets.update(r["target_code"] for r in rows)
                stored[env["id"]] = (checked.content_hash, receipt)
                if directory.is_descendant(env["origin"]):
                    touched.add(env["origin"])
                results.append(receipt)
                rt.metrics.envelopes.labels(env["type"], "accepted").inc()
            except Rejected as e:
                log.warning("envelope rejected", extra={
                    "envelope_id": env_id, "code": e.code.value, "detail": e.message,
                    "origin": doc.get("origin") if isinstance(doc, dict) else None})
                rt.metrics.rejections.labels(e.code.value).inc()
                results.append(_rejected(env_id, e))
        await write(session, env_rows, out_rows)
        for table, rows_ in bulk.items():
            await session.execute(insert(table), rows_)
        if env_rows:
            await record(session=session, actor=f"protocol:{via}", action="envelopes.receive",
                         entity="envelope", entity_id=env_rows[0]["id"],
                         after={"accepted": [[r["id"], r["type"], r["origin"]]
                                             for r in env_rows]})
        if touched:
            await session.execute(update(KnownNode).where(KnownNode.code.in_(touched))
                                  .values(last_contact_at=utcnow()))
    return results, targets
