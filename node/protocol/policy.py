"""Who may send what: the one place where the protocol's authority rules are enforced.

``sync.verify`` proves *who signed* an envelope (origin, key, signature) and that its type
travels the right way through the tree. This module decides whether that origin *may say
it*: for every envelope type, where it may be addressed and which body fields must name the
origin itself, one of its children, or a code the administrative tree (GB/T 2260, the
``divisions.json`` shipped with plansync) puts under it. docs/protocol.md ("Who may send
what") is this table in prose; tests/protocol/test_trust.py attacks each row.

It runs at every node an envelope reaches — the recipient and every relay — so a forged
document is stopped at the first honest node. ``check`` needs only the directory (no
database); ``check_references`` runs where an envelope is applied and looks up the filings a
body refers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from node.divisions import divisions, tree_parent
from sync import Directory, Envelope, ErrorCode, Rejected, key_id_of

# recipient rules: (scope, how recipient.code relates to the origin)
TO_PARENT = ("node", "parent")  # exactly the origin's parent
TO_OWN_ANCESTORS = ("ancestors", "self")  # every ancestor of the origin
TO_OWN_SUBTREE = ("subtree", "self")  # the origin's whole subtree
TO_CHILD = ("node", "child")  # exactly one direct child of the origin


@dataclass(frozen=True)
class Rule:
    """The authority rule of one envelope type."""

    sender: str  # who may originate it (for people; the checks below enforce it)
    to: tuple[tuple[str, str], ...]  # allowed (scope, recipient relation)
    # body fields and what they must be: "origin" (the origin's own code), "child" (a direct
    # child of the origin), "recipient" (recipient.code), "own_id" (an id of the origin's own:
    # "<origin>-…"), "key" (the signing key), "key_of_public_key" (the id derived from
    # body.public_key), "division_child" (a code the division tree puts directly under the
    # origin, at the level the body states)
    fields: tuple[tuple[str, str], ...] = ()
    # body fields naming a filing that must have been filed by the origin (checked where the
    # envelope is applied)
    own_filings: tuple[str, ...] = ()


RULES: dict[str, Rule] = {
    "plan.filing": Rule(
        "any node with a parent, about its own plan", (TO_PARENT,),
        (("plan_id", "own_id"),), own_filings=("refiling_of",)),
    "report.filing": Rule(
        "any node with a parent, about its own report", (TO_OWN_ANCESTORS,),
        (("report_id", "own_id"),), own_filings=("refiling_of",)),
    "evaluation.filing": Rule(  # relayed upward like report.filing (node.evaluations)
        "any node with a parent, about its own mid-term/final evaluation",
        (TO_OWN_ANCESTORS,), (("evaluation_id", "own_id"),), own_filings=("refiling_of",)),
    "ledger.entry": Rule(
        "the office that gave the receipt, about a filing by one of its children",
        (TO_OWN_ANCESTORS,), (("receiver", "origin"), ("filer", "child"))),
    "node.enrolled": Rule(
        "a parent, about its own new child (a code the division tree puts under it)",
        (TO_OWN_ANCESTORS,), (("parent", "origin"), ("code", "division_child"),
                              ("key_id", "key_of_public_key"))),
    "key.rotation": Rule(
        "any node, about its own key, signed with its current key",
        (TO_OWN_ANCESTORS, TO_OWN_SUBTREE), (("node", "origin"), ("previous_key_id", "key"),
                                             ("key_id", "key_of_public_key"))),
    "framework.release": Rule(
        "a node with children, releasing its own plan to its subtree", (TO_OWN_SUBTREE,),
        (("framework_id", "own_id"),)),
    "filing.receipt": Rule(
        "a parent, answering a filing of one of its children", (TO_CHILD,),
        (("filer", "recipient"),)),
}


def _relation_ok(relation: str, code: str, origin: str, d: Directory) -> bool:
    if relation == "self":
        return code == origin
    if relation == "parent":
        return d.parents.get(origin) == code and code is not None
    if relation == "child":
        return d.parents.get(code) == origin
    raise AssertionError(relation)


def division_child_ok(parent: str, code: str, level: str) -> str | None:
    """None if the division tree puts ``code`` directly under ``parent`` at ``level``;
    otherwise why not. The tree is the whole country's: the provinces are the children of
    the optional national level 000000 (node.divisions.tree_parent)."""
    div = divisions().get(code)
    if div is None:
        return f"{code} is not a GB/T 2260 code in the division tree"
    if tree_parent(code) != parent:
        return (f"{code} {div.name} belongs under {tree_parent(code)} in the division "
                f"tree, not under {parent}")
    if div.level != level:
        return f"{code} {div.name} is a {div.level}, not a {level}"
    return None


def enrol_level_ok(parent_level: str, child_level: str) -> str | None:
    """None if a node of ``child_level`` may enrol under one of ``parent_level``; otherwise
    why not. Each level enrols only the levels directly below it (node.config.CHILD_LEVELS):
    the national node (000000) only provinces, a province its cities (and the counties the
    division tree puts directly under it), a city its counties; so a province may enrol only
    under the national node (or stay a root). Which code goes under which parent is the
    division tree's (:func:`division_child_ok`)."""
    from node.config import CHILD_LEVELS, Level

    try:
        parent, child = Level(parent_level), Level(child_level)
    except ValueError:
        return f"unknown level {child_level!r} or {parent_level!r}"
    wanted = CHILD_LEVELS.get(parent, ())
    if child in wanted:
        return None
    return (f"a {child.value} cannot enrol under a {parent.value}: "
            + (f"a {parent.value} node enrols only {' or '.join(w.value for w in wanted)} "
               "nodes" if wanted else f"a {parent.value} node has no children"))


def _field_ok(relation: str, value: Any, env: Envelope, d: Directory) -> str | None:
    origin = env["origin"]
    if relation == "origin":
        return None if value == origin else f"must be the origin {origin}"
    if relation == "recipient":
        code = env["recipient"]["code"]
        return None if value == code else f"must be the recipient {code}"
    if relation == "child":
        return None if d.parents.get(value) == origin else \
            f"must be a child of {origin} (the office that received the filing)"
    if relation == "own_id":
        return None if isinstance(value, str) and value.startswith(f"{origin}-") else \
            f"must be an id of {origin}'s own ({origin}-…)"
    if relation == "key":
        return None if value == env["key_id"] else "must be the key that signs the envelope"
    if relation == "key_of_public_key":  # a key id is derived, never chosen
        public_key = env["body"].get("public_key", "")
        try:
            derived = key_id_of(public_key)
        except ValueError:
            return "belongs to no valid public key"
        return None if value == derived else f"is not the id of body.public_key ({derived})"
    if relation == "division_child":
        return division_child_ok(origin, value, env["body"].get("level", ""))
    raise AssertionError(relation)


def check(env: Envelope, d: Directory) -> None:
    """Raise Rejected unless the (verified) origin may send this envelope this way."""
    rule = RULES.get(env["type"])
    if rule is None:  # a type without a rule is refused, never waved through
        raise Rejected(ErrorCode.unknown_type, f"no authority rule for {env['type']}", "/type")
    origin, rcpt = env["origin"], env["recipient"]
    if not any(rcpt["scope"] == scope and _relation_ok(rel, rcpt["code"], origin, d)
               for scope, rel in rule.to):
        allowed = " or ".join(f"{s} of {'the origin' if r == 'self' else 'its ' + r}"
                              for s, r in rule.to)
        raise Rejected(ErrorCode.wrong_route,
                       f"{env['type']} from {origin} may go only to: {allowed}", "/recipient")
    body = env["body"]
    for name, relation in rule.fields:
        why = _field_ok(relation, body.get(name), env, d)
        if why is not None:
            code = (ErrorCode.division_mismatch if relation == "division_child"
                    else ErrorCode.origin_mismatch)
            raise Rejected(code, f"{env['type']} from {origin}: body.{name} "
                           f"{body.get(name)!r} {why}", f"/body/{name}")


async def check_references(session: AsyncSession, env: Envelope) -> None:
    """Where an envelope is applied: the filings its body names must be the origin's own."""
    rule = RULES[env["type"]]
    for name in rule.own_filings:
        ref = env["body"].get(name)
        if ref is None:
            continue
        filer = await _filer_of(session, ref)
        if filer is not None and filer != env["origin"]:
            raise Rejected(ErrorCode.origin_mismatch,
                           f"{env['type']} from {env['origin']}: body.{name} names a filing of "
                           f"{filer}; only the origin's own filings may be refiled",
                           f"/body/{name}")


async def _filer_of(session: AsyncSession, filing_id: str) -> str | None:
    from node.models import Filing, ReceivedReport

    plan = await session.get(Filing, filing_id)
    if plan is not None:
        return plan.filer
    report = await session.get(ReceivedReport, filing_id)
    if report is None:  # an evaluation filing (node.evaluations)
        from node.models import ReceivedEvaluation

        ev = await session.get(ReceivedEvaluation, filing_id)
        return ev.filer if ev is not None else None
    return report.filer


def table_rows() -> list[tuple[str, str, str, str]]:
    """(type, sender, addressed to, body fields) — the table docs/protocol.md shows."""
    out = []
    for t, r in RULES.items():
        to = "; ".join(f"{s}: {rel}" for s, rel in r.to)
        fields = ", ".join([f"{n}={rel}" for n, rel in r.fields]
                           + [f"{n}=own filing" for n in r.own_filings])
        out.append((t, r.sender, to, fields or "—"))
    return out
