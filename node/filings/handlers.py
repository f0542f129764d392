"""Envelope listeners of the filings domain: the filer's side of a receipt (plans), and the
ledger entries every ancestor keeps for the timeliness audit."""

from __future__ import annotations

from datetime import date

from node.models import LedgerEntry, SentFiling
from node.protocol.registry import Context, Registry
from sync import parse_ts


def register(registry: Registry) -> None:
    registry.on("filing.receipt", on_receipt)
    registry.on("ledger.entry", on_ledger)


async def on_receipt(ctx: Context) -> None:
    """At the filer: record the parent's signed answer to a plan filing."""
    b = ctx.env["body"]
    sent = await ctx.session.get(SentFiling, b["filing_id"])
    if sent is not None:
        sent.outcome = b["outcome"]
        sent.receipt = b
        sent.receipt_envelope_id = ctx.env["id"]
    return None


async def on_ledger(ctx: Context) -> None:
    b = ctx.env["body"]
    ctx.insert_later(LedgerEntry, {
        "envelope_id": ctx.env["id"], "filing_id": b["filing_id"], "filing_type": b["filing_type"],
        "kind": b.get("kind"), "year": b.get("year"),
        "subject": b.get("subject"), "filer": b["filer"], "receiver": b["receiver"],
        "received_at": parse_ts(b["received_at"]),
        "due_on": date.fromisoformat(b["due_on"]) if b.get("due_on") else None,
        "outcome": b["outcome"], "late_days": b.get("late_days", 0)})
    return None
