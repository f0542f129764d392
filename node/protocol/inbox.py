"""Receiving envelopes: idempotent, verified, applied and relayed in one transaction.

Per envelope: duplicate check (same id: same content → the stored receipt; different content
→ ``id_conflict``), full verification (sync.verify), then store, apply the type's handler if
the envelope is for this node, and queue relays (unchanged) to the parent or children.
Handlers validate before they write: a Rejected raised by a handler must leave nothing behind.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.db import order_lock, transaction
from node.errors import Unavailable
from node.models import EnvelopeRecord, KnownNode, OwnKey
from node.protocol import policy
from node.protocol.directory import load_directory
from node.protocol.outbox import (
    envelope_row,
    kick_after_commit,
    outbox_rows,
    own_epoch,
    reclaimed_received_at,
    write,
)
from node.protocol.registry import Context, Registry, RejectedAfterWrites
from node.runtime import NodeRuntime
from sync import (
    Envelope,
    ErrorCode,
    Rejected,
    envelope_hash,
    format_ts,
    known_types,
    signing_bytes,
    utcnow,
    validate_envelope_shape,
    verify,
    verify_signature,
)

log = logging.getLogger("plansync.inbox")


def _rejected(env_id: Any, e: Rejected) -> dict[str, Any]:
    return {"id": env_id if isinstance(env_id, str) else None, "status": "rejected",
            "error": e.as_dict()}


MAX_RETAKES = 16  # a batch is taken again at most this often (one bad envelope each time)


class _Poisoned(Exception):
    """An envelope made the database fail (e.g. a value its column cannot hold): the batch is
    taken again without it, so one bad envelope never holds up the others."""

    def __init__(self, index: int, error: Rejected) -> None:
        self.index, self.error = index, error


async def ingest(rt: NodeRuntime, registry: Registry, docs: list[Any], *, via: str = "push"
                 ) -> list[dict[str, Any]]:
    """Receive a batch; one result per envelope. ``registry`` says what each type does here.
    Relays queued by the batch are kicked after its commit.

    The accepted envelopes of a batch are one audit entry (``envelopes.receive``, actor
    ``protocol:<via>``, their ids, types and origins): one hash-chain link per batch keeps
    the audit log complete without a link per envelope on the ingest path."""
    poisoned: dict[int, Rejected] = {}
    while True:
        try:
            results, counted = await _ingest_once(rt, registry, docs, via, poisoned)
        except _Poisoned as p:
            poisoned[p.index] = p.error
            if len(poisoned) > MAX_RETAKES:  # bounded work per request, whatever is sent
                raise Unavailable(
                    f"{len(poisoned)} envelopes of this batch failed while being applied; "
                    "send them again later, in smaller batches", code="batch_retakes") from None
            continue
        for etype, outcome in counted:
            if outcome == "rejected":
                continue
            rt.metrics.envelopes.labels(etype, outcome).inc()
        for code in (r["error"]["code"] for r in results if r["status"] == "rejected"):
            rt.metrics.rejections.labels(code).inc()
        return results


async def _ingest_once(rt: NodeRuntime, registry: Registry, docs: list[Any], via: str,
                       poisoned: dict[int, Rejected]
                       ) -> tuple[list[dict[str, Any]], list[tuple[Any, str]]]:
    results: list[dict[str, Any]] = []
    targets: set[str] = set()
    counted: list[tuple[Any, str]] = []
    s = rt.settings
    async with transaction(rt.sessions) as session:
        await order_lock(session)
        me = await session.get(KnownNode, rt.cfg.code)
        if via == "push" and me is not None and me.resync_since is not None:
            raise Unavailable(
                "节点刚从备份恢复，正在与上级同步 this node was restored from a backup and is "
                "catching up with its parent first; send again later", code="resyncing")
        reclaiming = await _holds_reclaimed(session, rt.cfg.code)
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
        for index, doc in enumerate(docs):
            env_id = doc.get("id") if isinstance(doc, dict) else None
            try:
                if index in poisoned:
                    raise poisoned[index]
                if isinstance(env_id, str) and env_id in stored:
                    h, rcpt = stored[env_id]
                    if h == envelope_hash(doc):
                        results.append({**rcpt, "status": "duplicate"})
                        counted.append((doc.get("type"), "duplicate"))
                        continue
                    raise Rejected(ErrorCode.id_conflict,
                                   f"envelope {env_id} was already received with other content",
                                   "/id")
                if isinstance(doc, dict) and doc.get("origin") == rt.cfg.code:
                    # our own envelope, given back by a neighbour after we were restored
                    back = await _reclaim(session, doc, rt.cfg.code, received_at, now)
                    stored[str(env_id)] = (envelope_hash(doc), back)
                    reclaiming = True
                    results.append(back)
                    counted.append((doc.get("type"), "accepted"))
                    continue
                checked = verify(doc, directory=directory, max_body_bytes=s.max_body_bytes,
                                 max_skew=timedelta(seconds=s.max_clock_skew_seconds))
                env: Envelope = doc
                policy.check(env, directory)  # who may say what: at every hop
                route = checked.route
                receipt: dict[str, Any] = {
                    "id": env["id"], "status": "accepted", "receiver": rt.cfg.code,
                    "received_at": received_at,
                }
                ctx = Context(session, rt, directory, env)
                if route.local and reclaiming:
                    # a filing re-offered after a restore is decided on the time it was first
                    # received (our own answer, given back, says when): the same answer again
                    first = await reclaimed_received_at(session, rt.cfg.code, env["id"])
                    if first is not None:
                        ctx.rt = dataclasses.replace(rt, clock=_fixed(first))
                if route.local:
                    try:
                        await policy.check_references(session, env)
                        extra = await registry.apply(ctx)
                    except RejectedAfterWrites as e:  # undo the earlier listeners' writes
                        raise _Poisoned(index, Rejected(e.code, e.message, e.pointer)) from None
                    except DBAPIError as e:
                        raise _Poisoned(index, Rejected(
                            ErrorCode.schema_violation,
                            "a value does not fit this node's database: "
                            f"{str(e.orig).splitlines()[0][:200]}", "/body")) from None
                    except (ValueError, ArithmeticError) as e:  # e.g. a date out of range
                        raise _Poisoned(index, Rejected(
                            ErrorCode.schema_violation,
                            f"a value cannot be used here: {str(e)[:200]}", "/body")) from None
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
                counted.append((env["type"], "accepted"))
            except Rejected as e:
                log.warning("envelope rejected", extra={
                    "envelope_id": env_id, "code": e.code.value, "detail": e.message,
                    "origin": doc.get("origin") if isinstance(doc, dict) else None})
                results.append(_rejected(env_id, e))
                counted.append((None, "rejected"))
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
        kick_after_commit(session, rt, targets)
        # every answer names this node's epoch: a sender that sees it change knows this node
        # was restored from a backup and re-offers what it sent (docs/protocol.md)
        epoch = await own_epoch(session, rt.cfg.code)
    if epoch is not None:
        results = [{**r, "epoch": epoch} for r in results]
    return results, counted


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


async def _holds_reclaimed(session: AsyncSession, code: str) -> bool:
    return bool(await session.scalar(select(EnvelopeRecord.id).where(
        EnvelopeRecord.origin == code, EnvelopeRecord.reclaimed.is_(True)).limit(1)))


async def _reclaim(session: AsyncSession, doc: dict[str, Any], code: str, received_at: str,
                   now: datetime) -> dict[str, Any]:
    """Take back an envelope this node signed (a neighbour gives it back after a restore,
    docs/protocol.md "Restored nodes"). Only this node's own keys verify it; it is stored,
    not applied and not relayed, and marked ``reclaimed`` so that :func:`emit` sends it
    again instead of signing a second answer to the same filing."""
    validate_envelope_shape(doc)
    env: Envelope = doc  # type: ignore[assignment]
    if env["type"] not in known_types():
        raise Rejected(ErrorCode.unknown_type, f"unknown envelope type {env['type']!r}", "/type")
    key = await session.get(OwnKey, env["key_id"])
    if key is None:
        raise Rejected(ErrorCode.unknown_key,
                       f"key {env['key_id']} is not one of this node's keys", "/key_id")
    try:
        signed = signing_bytes(env)
    except (TypeError, ValueError, OverflowError) as e:
        raise Rejected(ErrorCode.invalid_envelope,
                       f"envelope cannot be canonicalised: {e}") from None
    if not verify_signature(key.public_key, env["signature"], signed):
        raise Rejected(ErrorCode.bad_signature, "signature does not verify with this node's "
                       "own key", "/signature")
    receipt = {"id": env["id"], "status": "accepted", "receiver": code,
               "received_at": received_at}
    row = envelope_row(env, local=False, receipt={"id": env["id"], "status": "reclaimed"},
                       content_hash=envelope_hash(env), now=now)
    await session.execute(insert(EnvelopeRecord), [{**row, "reclaimed": True}])
    return receipt
