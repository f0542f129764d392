"""The protocol's own envelope types: a new descendant and its key, a key rotation."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update

from node.audit.service import record
from node.models import NodeKey
from node.protocol.directory import add_key, upsert_node
from node.protocol.registry import Context, Registry
from sync import ErrorCode, KeyInfo, Rejected, parse_ts

log = logging.getLogger("plansync.inbox")


def register(registry: Registry) -> None:
    registry.on("node.enrolled", on_node_enrolled)
    registry.on("key.rotation", on_key_rotation)


async def on_node_enrolled(ctx: Context) -> None:
    """An ancestor learns a new descendant and its key. The policy already checked that the
    origin is the parent and that the division tree puts the code under it. A key, once
    known, changes only by a rotation signed with it, or by a recovery an admin here
    confirms: an announcement with another key is ``key_conflict``."""
    b = ctx.env["body"]
    code, kid = b["code"], b["key_id"]
    existing = ctx.directory.parents.get(code, b["parent"])
    if code == ctx.directory.self_code or existing != b["parent"]:
        raise Rejected(ErrorCode.enrol_mismatch,
                       f"node {code} is already known under another parent", "/body/code")
    known = {k for (c, k) in ctx.directory.keys if c == code}
    if known and kid not in known:
        if not b.get("recovery"):
            raise Rejected(
                ErrorCode.key_conflict,
                f"node {code} is already enrolled with key {sorted(known)[0]}; a key changes "
                "only by a key.rotation signed with the current key, or by a recovery that an "
                "admin of every ancestor confirms", "/body/key_id")
        await add_key(ctx.session, code=code, key_id=kid, public_key=b["public_key"],
                      status="pending")
        await record(session=ctx.session, actor=f"node:{ctx.env['origin']}",
                     action="key.recovery.pending", entity="node_key", entity_id=f"{code}:{kid}",
                     after={"code": code, "key_id": kid, "replaces": sorted(known),
                            "announced_by": ctx.env["origin"]})
        log.warning("key recovery waits for an admin", extra={"node": code, "key_id": kid})
        return None
    node = await upsert_node(ctx.session, code=code, name=b["name"], level=b["level"],
                             parent=b["parent"], relation="descendant")
    if node.enrolled_at is None:  # when its parent enrolled it (what the audit counts from)
        node.enrolled_at = parse_ts(ctx.env["created_at"])
    await add_key(ctx.session, code=code, key_id=kid, public_key=b["public_key"])
    ctx.directory.parents[code] = b["parent"]
    ctx.directory.keys[(code, kid)] = KeyInfo(b["public_key"])
    return None


async def on_key_rotation(ctx: Context) -> None:
    """Signed with the origin's current key (the policy checked body.node and
    previous_key_id); the old key then verifies only what the rotation lists in ``carry``."""
    b, env = ctx.env["body"], ctx.env
    origin = env["origin"]
    old = ctx.directory.keys[(origin, b["previous_key_id"])]
    if not old.current:
        raise Rejected(ErrorCode.key_retired,
                       f"key {b['previous_key_id']} of {origin} is already retired; only the "
                       "current key may rotate", "/key_id")
    rotated = parse_ts(b["rotated_at"])
    skew = timedelta(seconds=ctx.rt.settings.max_clock_skew_seconds)
    if abs(rotated - parse_ts(env["created_at"])) > skew:
        raise Rejected(ErrorCode.stale_rotation,
                       f"rotated_at {b['rotated_at']} is not the envelope's creation time "
                       f"{env['created_at']}: a rotation may not be backdated", "/body/rotated_at")
    if (origin, b["key_id"]) in ctx.directory.keys:
        raise Rejected(ErrorCode.key_conflict, f"key {b['key_id']} of {origin} is already known",
                       "/body/key_id")
    carry = sorted(set(b.get("carry", [])))
    await ctx.session.execute(
        update(NodeKey).where(NodeKey.code == origin, NodeKey.key_id == b["previous_key_id"])
        .values(valid_until=rotated, carry=carry))
    await add_key(ctx.session, code=origin, key_id=b["key_id"], public_key=b["public_key"])
    ctx.directory.keys[(origin, b["previous_key_id"])] = KeyInfo(old.public_key, rotated,
                                                                 frozenset(carry))
    ctx.directory.keys[(origin, b["key_id"])] = KeyInfo(b["public_key"])
    return None
