"""Enrolment: a parent invites a child by code; the child enrols with a one-time token."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.config import LEVEL_DEPTH, Level
from node.db import order_lock, transaction
from node.models import Invite, KnownNode, NodeKey
from node.protocol.directory import add_key, identity, load_directory, upsert_node
from node.protocol.outbox import emit
from node.runtime import NodeRuntime
from sync import ErrorCode, Rejected, canonical, format_ts, key_id_of, utcnow, verify_signature


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def proof_bytes(token: str, code: str, public_key: str) -> bytes:
    return canonical({"purpose": "plansync-enroll", "token": token, "code": code,
                      "public_key": public_key})


async def create_invite(
    *, session: AsyncSession, code: str, name: str, actor: str, ttl: timedelta
) -> str:
    from node.config import _CODE

    if not _CODE.match(code):
        from node.errors import BadRequest

        raise BadRequest(f"child code {code!r} must be a 6-digit GB/T 2260 code")
    token = "psi_" + secrets.token_urlsafe(24)
    now = utcnow()
    inv = Invite(code=code, name=name, token_hash=_h(token), created_by=actor, created_at=now,
                 expires_at=now + ttl)
    session.add(inv)
    await session.flush()
    await record(session=session, actor=actor, action="child.invite", entity="invite",
                 entity_id=str(inv.id), after={"code": code, "name": name,
                                              "expires_at": format_ts(inv.expires_at)})
    return token


async def _ancestry(session: AsyncSession, rt: NodeRuntime) -> list[dict[str, Any]]:
    """This node and its ancestors with all their keys (for the child to trust)."""
    d = await load_directory(session, rt.cfg.code)
    out = []
    for code in [rt.cfg.code, *d.chain_up(rt.cfg.code)]:
        node = await session.get(KnownNode, code)
        assert node is not None
        keys = (await session.scalars(select(NodeKey).where(NodeKey.code == code))).all()
        entry: dict[str, Any] = {"code": code, "name": node.name, "level": node.level,
                                 "parent": node.parent_code}
        if code == rt.cfg.code:
            entry["keys"] = await _own_keys(session)
        else:
            entry["keys"] = [{"key_id": k.key_id, "public_key": k.public_key,
                              "valid_until": format_ts(k.valid_until) if k.valid_until else None}
                             for k in keys]
        out.append(entry)
    return out


async def _own_keys(session: AsyncSession) -> list[dict[str, Any]]:
    from node.models import OwnKey

    return [{"key_id": k.key_id, "public_key": k.public_key,
             "valid_until": format_ts(k.retired_at) if k.retired_at else None}
            for k in (await session.scalars(select(OwnKey))).all()]


async def accept_enrolment(rt: NodeRuntime, payload: dict[str, Any]) -> tuple[dict[str, Any],
                                                                              set[str]]:
    """Parent side of POST /sync/v1/enroll. Raises Rejected and changes nothing on error."""
    try:
        token, code, name = str(payload["token"]), str(payload["code"]), str(payload["name"])
        level, base_url = str(payload["level"]), payload.get("base_url")
        public_key, proof = str(payload["public_key"]), str(payload["proof"])
    except KeyError as e:
        raise Rejected(ErrorCode.invalid_envelope, f"enrolment request lacks {e.args[0]}",
                       f"/{e.args[0]}") from None
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
        if LEVEL_DEPTH[child_level] <= LEVEL_DEPTH[rt.cfg.level]:
            raise Rejected(ErrorCode.enrol_mismatch,
                           f"a {child_level.value} cannot enrol under a {rt.cfg.level.value}")
        if not verify_signature(public_key, proof, proof_bytes(token, code, public_key)):
            raise Rejected(ErrorCode.bad_signature,
                           "enrolment proof is not signed by the presented key")
        existing = await session.get(KnownNode, code)
        if existing is not None and existing.relation not in ("child",):
            raise Rejected(ErrorCode.enrol_mismatch,
                           f"node {code} is already known here as {existing.relation}")
        kid = key_id_of(public_key)
        inv.used_at = now
        node = await upsert_node(session, code=code, name=name, level=child_level.value,
                                 parent=rt.cfg.code, relation="child", base_url=base_url)
        node.enrolled_at = node.last_contact_at = now
        await add_key(session, code=code, key_id=kid, public_key=public_key)
        await record(session=session, actor=f"node:{code}", action="child.enroll",
                     entity="node", entity_id=code,
                     after={"name": name, "level": child_level.value, "key_id": kid,
                            "base_url": base_url, "invite": inv.id})
        targets: set[str] = await _catch_up(session, code)
        if rt.cfg.parent_url:
            _, targets = await emit(session, rt, type="node.enrolled", recipient=rt.cfg.code,
                                    scope="ancestors",
                                    body={"code": code, "name": name, "level": child_level.value,
                                          "parent": rt.cfg.code, "public_key": public_key,
                                          "key_id": kid})
        answer = {"parent": identity(rt.cfg, rt.signer),
                  "ancestors": await _ancestry(session, rt)}
    return answer, targets


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


async def enroll_with_parent(rt: NodeRuntime, token: str) -> dict[str, Any]:
    """Child side: call the parent's /sync/v1/enroll and record the ancestors' keys."""
    cfg = rt.cfg
    if not cfg.parent_url:
        raise Rejected(ErrorCode.enrol_mismatch, "this node has no parent_url configured")
    payload = {"token": token, "code": cfg.code, "name": cfg.name, "level": cfg.level.value,
               "base_url": cfg.base_url, "public_key": rt.signer.public_key,
               "proof": rt.signer.sign(proof_bytes(token, cfg.code, rt.signer.public_key))}
    answer = await rt.client.enroll(cfg.parent_url, payload)
    parent = answer["parent"]
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
        me = await session.get(KnownNode, cfg.code)
        assert me is not None
        me.parent_code = parent["code"]
        await record(session=session, actor="cli", action="node.enroll", entity="node",
                     entity_id=parent["code"],
                     after={"parent": parent["code"], "parent_key_id": parent["key_id"],
                            "ancestors": [a["code"] for a in answer["ancestors"]]})
    return answer
