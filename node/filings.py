"""What a parent does with every filing it receives (plans and annual reports alike): send
the signed receipt (or return) down to the filer, record the timeliness facts in its ledger,
and send them up to every ancestor as a ledger entry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.models import LedgerEntry
from node.protocol.outbox import emit
from node.runtime import NodeRuntime
from sync import Directory, format_ts


async def answer(
    session: AsyncSession, rt: NodeRuntime, d: Directory, *, filing_id: str, filer: str,
    filing_type: str, subject: str, received_at: datetime, due_on: date, outcome: str,
    late_days: int, findings: list[dict[str, Any]], reasons: str | None, decided_by: str,
    targets: set[str],
) -> str:
    """Returns the receipt envelope id; adds the neighbours to kick to ``targets``."""
    facts = {"received_at": format_ts(received_at), "due_on": due_on.isoformat(),
             "outcome": outcome, "timeliness": "late" if late_days else "on_time",
             "late_days": late_days}
    receipt: dict[str, Any] = {"filing_id": filing_id, "filer": filer, **facts,
                               "findings": findings}
    if reasons:
        receipt["reasons"] = reasons
    env, t = await emit(session, rt, type="filing.receipt", recipient=filer, scope="node",
                        body=receipt, directory=d)
    targets |= t
    ledger_id = env["id"]
    if d.parent is not None:  # the same fact, under the same id, at every ancestor
        led, t = await emit(session, rt, type="ledger.entry", recipient=rt.cfg.code,
                            scope="ancestors",
                            body={"filing_id": filing_id, "filing_type": filing_type,
                                  "subject": subject, "filer": filer, "receiver": rt.cfg.code,
                                  **facts},
                            directory=d)
        ledger_id = led["id"]
        targets |= t
    session.add(LedgerEntry(envelope_id=ledger_id, filing_id=filing_id, filing_type=filing_type,
                            subject=subject, filer=filer, receiver=rt.cfg.code,
                            received_at=received_at, due_on=due_on, outcome=outcome,
                            late_days=late_days))
    await record(session=session, actor=decided_by, action=f"filing.{outcome}",
                 entity=filing_type, entity_id=filing_id,
                 after={"filer": filer, "subject": subject, "late_days": late_days})
    return str(env["id"])
