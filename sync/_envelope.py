"""Envelopes: build and sign, check and verify, and decide where each one goes.

An envelope is a JSON object::

    {"v": 1, "id": "<uuid7>", "type": "plan.filing", "origin": "150603",
     "recipient": {"code": "150600", "scope": "node"}, "created_at": "...Z",
     "key_id": "...", "body": {...}, "signature": "<base64url Ed25519>"}

The signature covers the RFC 8785 canonical bytes of the envelope without ``signature``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypedDict

from ._canonical import canonical
from ._errors import ErrorCode, Rejected
from ._ids import format_ts, new_id, parse_ts, utcnow
from ._keys import Signer, verify_signature
from ._schemas import Direction, direction_of, known_types, validate_body, validate_envelope_shape

PROTOCOL_VERSION = 1
Scope = Literal["node", "subtree", "ancestors"]


class Recipient(TypedDict):
    code: str
    scope: Scope


class Envelope(TypedDict):
    """A signed envelope as it travels (schemas/envelope.schema.json)."""

    v: int
    id: str
    type: str
    origin: str
    recipient: Recipient
    created_at: str
    key_id: str
    body: dict[str, Any]
    signature: str


def signing_bytes(env: Mapping[str, Any]) -> bytes:
    """The bytes the origin signs: canonical JSON of the envelope minus ``signature``."""
    return canonical({k: v for k, v in env.items() if k != "signature"})


def _hash(signed: bytes, signature: str) -> str:
    return hashlib.sha256(signed + b"." + signature.encode("ascii", "replace")).hexdigest()


def envelope_hash(env: Mapping[str, Any]) -> str:
    """Content hash of the whole envelope: SHA-256 of its signing bytes, ".", signature.
    Detects same-id replays with different content."""
    return _hash(signing_bytes(env), str(env.get("signature", "")))


def seal(
    *,
    signer: Signer,
    origin: str,
    type: str,
    recipient: str,
    scope: Scope = "node",
    body: dict[str, Any],
    created_at: datetime | None = None,
    id: str | None = None,
) -> Envelope:
    """Build and sign an envelope."""
    unsigned: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": id or new_id(),
        "type": type,
        "origin": origin,
        "recipient": {"code": recipient, "scope": scope},
        "created_at": format_ts(created_at or utcnow()),
        "key_id": signer.key_id,
        "body": body,
    }
    unsigned["signature"] = signer.sign(signing_bytes(unsigned))
    env: Envelope = unsigned  # type: ignore[assignment]  # now complete
    return env


@dataclass(frozen=True)
class KeyInfo:
    public_key: str
    valid_until: datetime | None = None  # set when the key was rotated away
    # once rotated away: the content hashes of what it signed before and may still be in
    # transit (listed by the rotation); a retired key verifies nothing else
    carry: frozenset[str] = frozenset()

    @property
    def current(self) -> bool:
        return self.valid_until is None


@dataclass
class Directory:
    """What a node knows of the tree: itself, its ancestors, its descendants and their keys.

    ``parents`` maps every known node code to its parent's code (``None`` at the top).
    """

    self_code: str
    parents: dict[str, str | None]
    keys: dict[tuple[str, str], KeyInfo] = field(default_factory=dict)

    def chain_up(self, code: str) -> list[str]:
        """Strict ancestors of ``code``, nearest first (as far as this node knows)."""
        out: list[str] = []
        cur = self.parents.get(code)
        while cur is not None and cur not in out:
            out.append(cur)
            cur = self.parents.get(cur)
        return out

    def is_ancestor_of_self(self, code: str) -> bool:
        return code in self.chain_up(self.self_code)

    def is_descendant(self, code: str) -> bool:
        return code != self.self_code and self.self_code in self.chain_up(code)

    def children(self) -> list[str]:
        return sorted(c for c, p in self.parents.items() if p == self.self_code)

    def child_toward(self, code: str) -> str:
        """The direct child of this node on the path down to descendant ``code``."""
        prev = code
        for anc in self.chain_up(code):
            if anc == self.self_code:
                return prev
            prev = anc
        raise KeyError(code)

    @property
    def parent(self) -> str | None:
        return self.parents.get(self.self_code)


@dataclass(frozen=True)
class Verified:
    """A verified envelope: where it goes here, and its content hash."""

    route: Route
    content_hash: str


@dataclass(frozen=True)
class Route:
    """Where a verified envelope goes at this node."""

    local: bool  # apply it here
    up: bool  # pass it on to the parent, unchanged
    down: tuple[str, ...]  # pass it on to these direct children, unchanged


def route(env: Mapping[str, Any], d: Directory) -> Route:
    """Decide delivery for an envelope whose origin relation was already checked."""
    code = env["recipient"]["code"]
    scope = env["recipient"]["scope"]
    me = d.self_code
    if scope == "node":
        if code == me:
            return Route(True, False, ())
        if d.is_ancestor_of_self(code):
            return Route(False, True, ())
        if d.is_descendant(code):
            return Route(False, False, (d.child_toward(code),))
    elif scope == "subtree":
        if code == me or d.is_ancestor_of_self(code):
            return Route(True, False, tuple(d.children()))
        if d.is_descendant(code):
            return Route(False, False, (d.child_toward(code),))
    elif scope == "ancestors":
        if d.is_descendant(env["origin"]):
            return Route(True, d.parent is not None, ())
    raise Rejected(
        ErrorCode.wrong_recipient,
        f"envelope for {scope} {code} is not for node {me} or a node it relays to",
        "/recipient",
    )


def route_outgoing(env: Mapping[str, Any], d: Directory) -> Route:
    """Where an envelope this node itself created goes first."""
    code = env["recipient"]["code"]
    scope = env["recipient"]["scope"]
    if scope == "ancestors":
        return Route(False, d.parent is not None, ())
    if scope == "subtree" and code == d.self_code:
        return Route(False, False, tuple(d.children()))
    if scope == "node" and code == d.self_code:
        return Route(True, False, ())
    if d.is_ancestor_of_self(code):
        return Route(False, True, ())
    if d.is_descendant(code):
        return Route(False, False, (d.child_toward(code),))
    raise Rejected(ErrorCode.wrong_recipient, f"no route from {d.self_code} to {code}")


def verify(
    doc: Any,
    *,
    directory: Directory,
    max_body_bytes: int,
    max_skew: timedelta,
    now: datetime | None = None,
) -> Verified:
    """Check one received envelope completely; return its route or raise :class:`Rejected`.

    Checks, in order: shape, version, type, size, clock, origin and direction, recipient,
    key, signature, body schema. Nothing is changed here. The size limit applies to the
    canonical bytes of the envelope without its signature (what is signed).
    """
    validate_envelope_shape(doc)
    env: Envelope = doc
    if env["v"] != PROTOCOL_VERSION:
        raise Rejected(ErrorCode.unsupported_version, f"protocol version {env['v']} not supported")
    etype = env["type"]
    if etype not in known_types():
        raise Rejected(ErrorCode.unknown_type, f"unknown envelope type {etype!r}", "/type")
    try:
        signed = signing_bytes(env)
    except (TypeError, ValueError, OverflowError) as e:  # rfc8785: NaN, ±2^53, surrogates
        raise Rejected(ErrorCode.invalid_envelope, f"envelope cannot be canonicalised: {e}"
                       ) from None
    size = len(signed)
    if size > max_body_bytes:
        raise Rejected(
            ErrorCode.body_too_large, f"body is {size} bytes, limit {max_body_bytes}", "/body"
        )
    try:
        created = parse_ts(env["created_at"])
    except ValueError as e:
        raise Rejected(ErrorCode.invalid_envelope, str(e), "/created_at") from None
    now = now or utcnow()
    if created > now + max_skew:
        raise Rejected(
            ErrorCode.future_timestamp,
            f"created_at {env['created_at']} is more than {int(max_skew.total_seconds())}s "
            "ahead of this node's clock; check the sender's clock",
            "/created_at",
        )
    origin = env["origin"]
    d = directory
    if origin not in d.parents or origin == d.self_code:
        raise Rejected(
            ErrorCode.unknown_origin,
            f"node {origin} is not enrolled below this node nor one of its ancestors",
            "/origin",
        )
    direction = direction_of(etype)
    from_below = d.is_descendant(origin)
    if (direction is Direction.up and not from_below) or (
        direction is Direction.down and from_below
    ):
        raise Rejected(
            ErrorCode.wrong_direction,
            f"{etype} travels {direction.value}; it may not come from "
            f"{'a descendant' if from_below else 'an ancestor'} ({origin})",
            "/type",
        )
    rt = route(env, d)
    key = d.keys.get((origin, env["key_id"]))
    if key is None:
        raise Rejected(
            ErrorCode.unknown_key, f"key {env['key_id']} of node {origin} is not known", "/key_id"
        )
    digest = _hash(signed, env["signature"])
    if key.valid_until is not None and digest not in key.carry:
        # whatever created_at it claims: a retired key signs nothing new (a backdated
        # document is indistinguishable from an old one, so only the rotation's list counts)
        raise Rejected(
            ErrorCode.key_retired,
            f"key {env['key_id']} of node {origin} was rotated away at "
            f"{format_ts(key.valid_until)}; it verifies only what the rotation listed",
            "/key_id",
        )
    if not verify_signature(key.public_key, env["signature"], signed):
        raise Rejected(ErrorCode.bad_signature, f"signature does not verify for {origin}",
                       "/signature")
    validate_body(etype, env["body"])
    return Verified(rt, digest)
