from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select

import sync
from node.db import transaction
from node.models import AuditEntry, EnvelopeRecord, OutboxRow
from node.protocol.outbox import emit
from tests.cluster import Cluster


def example(type_name: str, origin: str | None = None, recipient: str | None = None
            ) -> dict[str, Any]:
    """The schema's example body; with ``origin``, made the origin's own (ids and office
    fields the policy binds to the origin)."""
    body: dict[str, Any] = copy.deepcopy(sync.type_schema(type_name)["examples"][0])
    if origin is not None:
        if type_name == "plan.filing":
            body["plan_id"] = f"{origin}-{body['kind']}"
        elif type_name == "report.filing":
            body["report_id"] = f"{origin}-{body['kind']}-{body['year']}"
        elif type_name == "ledger.entry":
            body["receiver"] = origin
        elif type_name == "filing.receipt" and recipient is not None:
            body["filer"] = recipient
    return body


async def send(c: Cluster, code: str, type_name: str, recipient: str, scope: str = "node",
               body: dict[str, Any] | None = None) -> sync.Envelope:
    rt = c.rt(code)
    async with transaction(rt.sessions) as session:
        env = await emit(session, rt, type=type_name, recipient=recipient, scope=scope,
                         body=body or example(type_name, code, recipient))
    return env  # delivery is kicked after the commit


async def record(c: Cluster, code: str, env_id: str) -> EnvelopeRecord | None:
    async with c.rt(code).sessions() as s:
        return await s.get(EnvelopeRecord, env_id)


async def received_from(c: Cluster, code: str, origin: str) -> int:
    """Envelopes stored at ``code`` that ``origin`` signed (excludes what ``code`` sent)."""
    async with c.rt(code).sessions() as s:
        return await s.scalar(select(func.count()).select_from(EnvelopeRecord)
                              .where(EnvelopeRecord.origin == origin)) or 0


async def counts(c: Cluster, code: str) -> tuple[int, int, int]:
    """Stored envelopes, outbox rows and audit entries at a node."""
    async with c.rt(code).sessions() as s:
        return (await s.scalar(select(func.count()).select_from(EnvelopeRecord)) or 0,
                await s.scalar(select(func.count()).select_from(OutboxRow)) or 0,
                await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def receive_audits(c: Cluster, code: str) -> list[tuple[str, list[str]]]:
    """(actor, accepted envelope ids) of each ``envelopes.receive`` audit entry, in order."""
    async with c.rt(code).sessions() as s:
        rows = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "envelopes.receive").order_by(AuditEntry.id))).all()
    return [(r.actor, [a[0] for a in r.after["accepted"]]) for r in rows]
