"""Key transparency and key recovery.

**Transparency.** A middle node relays its children's keys upward (``node.enrolled``), so a
dishonest city could announce a key of its own for one of its counties. Every node therefore
asks, regularly, every ancestor which keys it holds for it: the request goes to the parent,
which adds its own signed attestation and asks its parent in turn. Each attestation is
signed by the attesting ancestor and carries the asker's nonce, so the relaying node can
neither forge nor replay one; it can only withhold it, which is reported too. Any ancestor
that does not hold exactly this node's current key raises the alarm: ``/readyz`` (the
``key_transparency`` field), the metric ``plansync_key_transparency_alarm{ancestor=...}``
and an ERROR log line ``key transparency alarm``.

**Recovery.** A node that lost its private key re-enrols with a *recovery invite* from its
parent (``plansync children invite CODE --recovery``): the parent's admin confirms by issuing
it, the old key is retired there and the new one announced upward with ``recovery: true``.
Every other ancestor holds the new key as *pending* (it verifies nothing) until one of its
admins confirms it (``plansync keys confirm CODE KEY_ID``), which retires the old key there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.db import transaction
from node.errors import Conflict, NotFound
from node.models import KnownNode, NodeKey
from node.protocol.directory import load_directory
from node.runtime import NodeRuntime
from sync import (
    ErrorCode,
    PeerRejected,
    Rejected,
    TransportError,
    canonical,
    format_ts,
    parse_ts,
    utcnow,
    verify_signature,
)

log = logging.getLogger("plansync.keytrust")

ATTEST_PURPOSE = "plansync-key-attestation"
STATE_KEY = "key_transparency"


def _attestation_bytes(att: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in att.items() if k != "signature"})


async def attest(rt: NodeRuntime, subject: str, nonce: str, *, asker: str
                 ) -> list[dict[str, Any]]:
    """This node's signed statement of the keys it holds for ``subject``, followed by its
    ancestors' statements (asked through its parent). ``asker``, the child that signed the
    request, may ask only about itself or a node below it."""
    if not (isinstance(nonce, str) and 16 <= len(nonce) <= 128 and nonce.isascii()):
        raise Rejected(ErrorCode.malformed_json, "nonce must be 16-128 ASCII characters",
                       "/nonce")
    async with rt.sessions() as session:
        d = await load_directory(session, rt.cfg.code)
        if subject != asker and asker not in d.chain_up(subject):
            raise Rejected(ErrorCode.wrong_recipient,
                           f"node {asker} may ask only about itself or a node below it",
                           "/subject")
        rows = (await session.scalars(select(NodeKey).where(
            NodeKey.code == subject, NodeKey.valid_until.is_(None)))).all()
    # "<key id>:<public key>": a key id alone could hide a swapped public key
    keys = sorted(f"{k.key_id}:{k.public_key}" for k in rows if k.status == "active")
    pending = sorted(f"{k.key_id}:{k.public_key}" for k in rows if k.status == "pending")
    att: dict[str, Any] = {"purpose": ATTEST_PURPOSE, "attester": rt.cfg.code,
                           "key_id": rt.signer.key_id, "subject": subject, "keys": keys,
                           "pending": pending, "nonce": nonce, "at": format_ts(utcnow())}
    att["signature"] = rt.signer.sign(_attestation_bytes(att))
    chain = [att]
    if rt.cfg.parent_url and d.parent is not None:
        try:
            above = await rt.client.attest(rt.cfg.parent_url, subject=subject, nonce=nonce,
                                           signer=rt.signer, code=rt.cfg.code)
            chain += [a for a in above if isinstance(a, dict)][:8]
        except TransportError as e:  # the asker reports the missing ancestors
            log.info("parent did not attest", extra={"error": str(e)})
    return chain


async def check_ancestors(rt: NodeRuntime) -> dict[str, Any]:
    """Ask every ancestor which key it holds for this node; record and return the verdict."""
    nonce = secrets.token_urlsafe(24)
    async with rt.sessions() as session:
        d = await load_directory(session, rt.cfg.code)
    ancestors = d.chain_up(rt.cfg.code)
    mine = f"{rt.signer.key_id}:{rt.signer.public_key}"
    verdict: dict[str, str] = dict.fromkeys(ancestors, "no answer")
    if ancestors and rt.cfg.parent_url:
        try:
            chain = await rt.client.attest(rt.cfg.parent_url, subject=rt.cfg.code, nonce=nonce,
                                           signer=rt.signer, code=rt.cfg.code)
        except (TransportError, PeerRejected) as e:
            chain = []
            log.info("key transparency: parent unreachable", extra={"error": str(e)})
        for att in chain if isinstance(chain, list) else []:
            if not isinstance(att, dict) or att.get("attester") not in verdict:
                continue
            who = att["attester"]
            key = d.keys.get((who, str(att.get("key_id"))))
            if (key is None or not key.current or att.get("nonce") != nonce
                    or att.get("subject") != rt.cfg.code or att.get("purpose") != ATTEST_PURPOSE
                    or not verify_signature(key.public_key, str(att.get("signature", "")),
                                            _attestation_bytes(att))):
                verdict[who] = "bad attestation"
            elif mine not in (att.get("keys") or []):
                verdict[who] = "does not hold this node's key"
            elif att.get("keys") != [mine]:
                verdict[who] = "holds another key for this node too"
            elif [p for p in att.get("pending") or [] if p != mine]:
                verdict[who] = "a recovery of another key for this node waits there"
            else:
                verdict[who] = "ok"
    alarm = {a: v for a, v in verdict.items() if v != "ok"}
    state = {"status": "alarm" if alarm else "ok", "checked_at": format_ts(utcnow()),
             "key_id": rt.signer.key_id, "ancestors": verdict}
    rt.extra[STATE_KEY] = state
    for a, v in verdict.items():
        rt.metrics.key_alarm.labels(a).set(0 if v == "ok" else 1)
    if alarm:
        log.error("key transparency alarm", extra={"ancestors": alarm, "key_id": rt.signer.key_id})
    return state


async def pending_recoveries(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(NodeKey, KnownNode.name, KnownNode.parent_code)
        .join(KnownNode, KnownNode.code == NodeKey.code, isouter=True)
        .where(NodeKey.status == "pending").order_by(NodeKey.added_at))).all()
    return [{"code": k.code, "name": name, "parent": parent, "key_id": k.key_id,
             "announced_at": format_ts(k.added_at)} for k, name, parent in rows]


async def confirm_recovery(rt: NodeRuntime, *, code: str, key_id: str, actor: str) -> None:
    """An admin of this node confirms a recovered key: it becomes the node's only key."""
    async with transaction(rt.sessions) as session:
        new = await session.get(NodeKey, (code, key_id))
        if new is None:
            raise NotFound(f"没有待确认的密钥 no key {key_id} of node {code} is known here")
        if new.status != "pending":
            raise Conflict(f"密钥已确认 key {key_id} of node {code} is not waiting for "
                           "confirmation")
        now = utcnow()
        old = (await session.scalars(select(NodeKey).where(
            NodeKey.code == code, NodeKey.status == "active",
            NodeKey.valid_until.is_(None)))).all()
        for k in old:
            k.valid_until, k.carry = now, []
        new.status, new.confirmed_by = "active", actor
        await record(session=session, actor=actor, action="key.recovery.confirm",
                     entity="node_key", entity_id=f"{code}:{key_id}",
                     before={"keys": [k.key_id for k in old]}, after={"key_id": key_id})


def start_loop(rt: NodeRuntime) -> asyncio.Task[None] | None:
    """Check the ancestors now and then, in the background of ``serve``."""
    s = rt.settings
    if s.key_check_interval_seconds <= 0 or not rt.cfg.parent_url:
        return None

    async def loop() -> None:
        await asyncio.sleep(s.key_check_delay_seconds)
        while True:
            try:
                await check_ancestors(rt)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("key transparency check failed; retrying later")
            await asyncio.sleep(s.key_check_interval_seconds)

    return asyncio.create_task(loop(), name=f"keycheck-{rt.cfg.code}")


async def stop_loop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def parse_state(state: Any) -> dict[str, Any] | None:
    """The last check's verdict as /readyz shows it (None before the first check)."""
    if not isinstance(state, dict):
        return None
    age = (utcnow() - parse_ts(state["checked_at"])).total_seconds()
    return {**state, "age_seconds": int(age)}
