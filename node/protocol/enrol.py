"""Enrolment: a parent invites a child by code; the child enrols with a one-time token."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.config import Level
from node.db import order_lock, transaction
from node.divisions import divisions
from node.models import Invite, KnownNode, NodeKey
from node.protocol.directory import add_key, identity, load_directory, upsert_node
from node.protocol.outbox import emit, kick_after_commit
from node.protocol.policy import division_child_ok, enrol_level_ok
from node.runtime import NodeRuntime
from sync import ErrorCode, Rejected, canonical, format_ts, key_id_of, utcnow, verify_signature


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def proof_bytes(token: str, code: str, public_key: str) -> bytes:
    return canonical({"purpose": "plansync-enroll", "token": token, "code": code,
                      "public_key": public_key})


INVITE_NAME_MAX = 200  # nodes.name / invites.name
BASE_URL_MAX = 300  # nodes.base_url
MAX_TTL_HOURS = 24 * 30


async def create_invite(
    *, session: AsyncSession, code: str, name: str, actor: str, ttl: timedelta,
    recovery: bool = False,
) -> str:
    from node.config import _CODE
    from node.errors import BadRequest

    if not _CODE.match(code):
        raise BadRequest(f"child code {code!r} must be a 6-digit GB/T 2260 code")
    if not name.strip() or len(name) > INVITE_NAME_MAX or "\x00" in name:
        raise BadRequest(f"下级单位名称须为 1–{INVITE_NAME_MAX} 个字符 the child office's name "
                         f"must have 1 to {INVITE_NAME_MAX} characters (no NUL)")
    if not timedelta(0) < ttl <= timedelta(hours=MAX_TTL_HOURS):
        raise BadRequest(f"邀请有效期须为 1–{MAX_TTL_HOURS} 小时 an invite must be valid for 1 "
                         f"to {MAX_TTL_HOURS} hours (--ttl-hours), not {ttl}")
    me = await session.scalar(select(KnownNode).where(KnownNode.relation == "self"))
    div = divisions().get(code)
    if me is not None and (div is None
                           or (why := division_child_ok(me.code, code, div.level)) is not None):
        raise BadRequest(f"不能邀请 {code}：{why if div else '不在行政区划表中'} cannot invite "
                         f"{code}: the division tree does not put it directly under {me.code}",
                         code="division_mismatch")
    token = "psi_" + secrets.token_urlsafe(24)
    now = utcnow()
    inv = Invite(code=code, name=name, token_hash=_h(token), created_by=actor, created_at=now,
                 expires_at=now + ttl, recovery=recovery)
    session.add(inv)
    await session.flush()
    await record(session=session, actor=actor, action="child.invite", entity="invite",
                 entity_id=str(inv.id), after={"code": code, "name": name,
                                              "expires_at": format_ts(inv.expires_at),
                                              "recovery": recovery})
    return token


_ENROL_FIELDS = {  # field: (required, max length, pattern)
    "token": (True, 200, None),
    "code": (True, 6, re.compile(r"^[1-9][0-9]{5}$")),
    "name": (True, INVITE_NAME_MAX, None),
    "level": (True, 10, None),
    "base_url": (False, BASE_URL_MAX, re.compile(r"^https?://[^\s/]+\S*$")),
    "public_key": (True, 43, re.compile(r"^[A-Za-z0-9_-]{43}$")),
    "proof": (True, 200, re.compile(r"^[A-Za-z0-9_-]+$")),
}


def _enrolment_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields of an enrolment request, each checked for type and size before anything is
    looked up; Rejected (invalid_envelope, with a pointer to the field) otherwise."""
    out: dict[str, Any] = {}
    for field, (required, max_len, pattern) in _ENROL_FIELDS.items():
        value = payload.get(field)
        if value is None and not required:
            out[field] = None
            continue
        if field not in payload:
            raise Rejected(ErrorCode.invalid_envelope, f"enrolment request lacks {field}",
                           f"/{field}")
        if not isinstance(value, str):
            raise Rejected(ErrorCode.invalid_envelope,
                           f"enrolment request: {field} must be a string, not "
                           f"{type(value).__name__}", f"/{field}")
        if "\x00" in value:
            raise Rejected(ErrorCode.invalid_envelope,
                           f"enrolment request: {field} contains a NUL character", f"/{field}")
        if not value.strip() or len(value) > max_len:
            raise Rejected(ErrorCode.invalid_envelope,
                           f"enrolment request: {field} must have 1 to {max_len} characters "
                           f"(has {len(value)})", f"/{field}")
        if pattern is not None and not pattern.match(value):
            raise Rejected(ErrorCode.invalid_envelope,
                           f"enrolment request: {field} {value[:80]!r} is malformed", f"/{field}")
        out[field] = value
    return out


async def _ancestry(session: AsyncSession, rt: NodeRuntime) -> list[dict[str, Any]]:
    """This node and its ancestors with all their keys (for the child to trust)."""
    d = await load_directory(session, rt.cfg.code)
    out = []
    for code in [rt.cfg.code, *d.chain_up(rt.cfg.code)]:
        node = await session.get(KnownNode, code)
        assert node is not None
        keys = (await session.scalars(select(NodeKey).where(
            NodeKey.code == code, NodeKey.status == "active"))).all()
        entry: dict[str, Any] = {"code": code, "name": node.name, "level": node.level,
                                 "parent": node.parent_code}
        if code == rt.cfg.code:
            entry["keys"] = await _own_keys(session, code)
        else:
            entry["keys"] = [{"key_id": k.key_id, "public_key": k.public_key,
                              "valid_until": format_ts(k.valid_until) if k.valid_until else None,
                              "carry": k.carry or []}
                             for k in keys]
        out.append(entry)
    return out


async def _own_keys(session: AsyncSession, code: str) -> list[dict[str, Any]]:
    """This node's keys; a retired one with the carry list its rotation announced (what it
    may still verify: the framework releases re-sent to the new child, among others)."""
    from node.models import EnvelopeRecord, OwnKey

    carry: dict[str, list[str]] = {}
    for raw in (await session.scalars(select(EnvelopeRecord.raw).where(
            EnvelopeRecord.origin == code, EnvelopeRecord.type == "key.rotation"))).all():
        carry[raw["body"]["previous_key_id"]] = raw["body"].get("carry", [])
    return [{"key_id": k.key_id, "public_key": k.public_key,
             "valid_until": format_ts(k.retired_at) if k.retired_at else None,
             "carry": carry.get(k.key_id, []) if k.retired_at else []}
            for k in (await session.scalars(select(OwnKey))).all()]


async def accept_enrolment(rt: NodeRuntime, payload: dict[str, Any]) -> dict[str, Any]:
    """Parent side of POST /sync/v1/enroll. Raises Rejected and changes nothing on error."""
    req = _enrolment_request(payload)
    token, code, name = req["token"], req["code"], req["name"]
    level, base_url = req["level"], req["base_url"]
    public_key, proof = req["public_key"], req["proof"]
    async with transaction(rt.sessions) as session:
        inv = await session.scalar(select(Invite).where(Invite.token_hash == _h(token)))
        now = utcnow()
        if inv is None:
            raise Rejected(ErrorCode.token_invalid, "enrolment token is not known here; ask the "
                           "parent office for a new invite (plansync children invite)")
        if inv.used_at is not None:
            raise Rejected(ErrorCode.token_used, "enrolment token was already used; ask for a "
                           "new invite")
        if inv.expires_at < now:
            raise Rejected(ErrorCode.token_expired, f"enrolment token expired at "
                           f"{format_ts(inv.expires_at)}; ask for a new invite")
        if inv.code != code:
            raise Rejected(ErrorCode.enrol_mismatch,
                           f"this invite is for node {inv.code}, not {code}")
        try:
            child_level = Level(level)
        except ValueError:
            raise Rejected(ErrorCode.enrol_mismatch, f"unknown level {level!r}") from None
        if (why := enrol_level_ok(rt.cfg.level.value, child_level.value)) is not None:
            raise Rejected(ErrorCode.enrol_mismatch, why)
        if not verify_signature(public_key, proof, proof_bytes(token, code, public_key)):
            raise Rejected(ErrorCode.bad_signature,
                           "enrolment proof is not signed by the presented key")
        if (why := division_child_ok(rt.cfg.code, code, child_level.value)) is not None:
            raise Rejected(ErrorCode.division_mismatch, why)
        existing = await session.get(KnownNode, code)
        if existing is not None and existing.relation not in ("child",):
            raise Rejected(ErrorCode.enrol_mismatch,
                           f"node {code} is already known here as {existing.relation}")
        kid = key_id_of(public_key)
        old_keys = [k for k in (await session.scalars(select(NodeKey).where(
            NodeKey.code == code, NodeKey.valid_until.is_(None)))).all() if k.key_id != kid]
        if old_keys and not inv.recovery:
            raise Rejected(ErrorCode.key_conflict,
                           f"node {code} is already enrolled with key {old_keys[0].key_id}; if "
                           "it lost its key, issue a recovery invite (plansync children invite "
                           f"{code} --recovery)")
        inv.used_at = now
        node = await upsert_node(session, code=code, name=name, level=child_level.value,
                                 parent=rt.cfg.code, relation="child", base_url=base_url)
        node.enrolled_at = node.last_contact_at = now
        for k in old_keys:  # the recovery invite is this office's admin confirming it
            k.valid_until, k.carry = now, []
        await add_key(session, code=code, key_id=kid, public_key=public_key)
        await record(session=session, actor=f"node:{code}", action="child.enroll",
                     entity="node", entity_id=code,
                     after={"name": name, "level": child_level.value, "key_id": kid,
                            "base_url": base_url, "invite": inv.id,
                            "replaces": [k.key_id for k in old_keys]})
        kick_after_commit(session, rt, await _catch_up(session, code))
        if rt.cfg.parent_url:
            await emit(session, rt, type="node.enrolled", recipient=rt.cfg.code,
                                    scope="ancestors",
                                    body={"code": code, "name": name, "level": child_level.value,
                                          "parent": rt.cfg.code, "public_key": public_key,
                                          "key_id": kid, **({"recovery": True} if old_keys
                                                            else {})})
        answer = {"parent": identity(rt.cfg, rt.signer),
                  "ancestors": await _ancestry(session, rt)}
    return answer


async def _catch_up(session: AsyncSession, child: str) -> set[str]:
    """Queue for a new child every framework version in force here, oldest first: the
    ancestors' releases (relayed unchanged) and this node's own."""
    from node.models import Framework, OutboxRow, PlanVersion

    ids = [e for (e,) in (await session.execute(
        select(Framework.envelope_id).order_by(Framework.received_at, Framework.version)))]
    ids += [e for (e,) in (await session.execute(
        select(PlanVersion.release_envelope_id).order_by(PlanVersion.published_at)))
            if e is not None]
    if not ids:
        return set()
    await order_lock(session)
    now = utcnow()
    for env_id in ids:
        session.add(OutboxRow(envelope_id=env_id, target_code=child, direction="down",
                              status="pending", attempts=0, next_attempt_at=now,
                              created_at=now))
    await session.flush()
    return {child}


async def _ask_parent(rt: NodeRuntime, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST the enrolment to the parent, giving up after ``enrol_timeout_seconds``; a parent
    that cannot be reached or does not answer is a TransportError naming its URL (a typed
    refusal by the parent, PeerRejected, passes through as it is)."""
    import asyncio

    from sync import PeerRejected, TransportError

    limit = rt.settings.enrol_timeout_seconds
    fix = ("check that `plansync serve` runs there and that parent_url (node.json or "
           "PLANSYNC_PARENT_URL) is its address")
    try:
        return await asyncio.wait_for(rt.client.enroll(url, payload), limit)
    except TimeoutError:
        raise TransportError(f"上级节点无应答 the parent at {url} did not answer within "
                             f"{limit:g} s: {fix}") from None
    except PeerRejected:
        raise
    except TransportError as e:
        raise TransportError(f"无法连接上级节点 cannot reach the parent at {url} ({e}): "
                             f"{fix}") from None


async def enroll_with_parent(rt: NodeRuntime, token: str) -> dict[str, Any]:
    """Child side: call the parent's /sync/v1/enroll and record the ancestors' keys."""
    cfg = rt.cfg
    if not cfg.parent_url:
        raise Rejected(ErrorCode.enrol_mismatch, "this node has no parent_url configured")
    payload = {"token": token, "code": cfg.code, "name": cfg.name, "level": cfg.level.value,
               "base_url": cfg.base_url, "public_key": rt.signer.public_key,
               "proof": rt.signer.sign(proof_bytes(token, cfg.code, rt.signer.public_key))}
    answer = await _ask_parent(rt, cfg.parent_url, payload)
    parent = answer["parent"]
    # the child checks its parent too (a province only under the national node 000000):
    # nothing is recorded unless the parent is the office directly above it
    why = (enrol_level_ok(str(parent.get("level")), cfg.level.value)
           or division_child_ok(str(parent.get("code")), cfg.code, cfg.level.value))
    if why is not None:
        raise Rejected(ErrorCode.enrol_mismatch,
                       f"不能加入 {parent.get('code')}：{why} cannot enrol under this parent")
    async with transaction(rt.sessions) as session:
        for i, anc in enumerate(answer["ancestors"]):
            node = await upsert_node(session, code=anc["code"], name=anc["name"],
                                     level=anc["level"], parent=anc["parent"],
                                     relation="parent" if i == 0 else "ancestor",
                                     base_url=cfg.parent_url if i == 0 else None)
            if i == 0:
                node.enrolled_at = node.last_contact_at = utcnow()
            for k in anc["keys"]:
                await add_key(session, code=anc["code"], key_id=k["key_id"],
                              public_key=k["public_key"])
                if k.get("valid_until"):
                    from sync import parse_ts

                    key = await session.get(NodeKey, (anc["code"], k["key_id"]))
                    assert key is not None
                    key.valid_until = parse_ts(k["valid_until"])
                    key.carry = [h for h in k.get("carry") or [] if isinstance(h, str)][:10_000]
        me = await session.get(KnownNode, cfg.code)
        assert me is not None
        me.parent_code = parent["code"]
        await record(session=session, actor="cli", action="node.enroll", entity="node",
                     entity_id=parent["code"],
                     after={"parent": parent["code"], "parent_key_id": parent["key_id"],
                            "ancestors": [a["code"] for a in answer["ancestors"]]})
    return answer
