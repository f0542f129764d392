"""Whole-tree consistency check (fault tests, simulations, operators after an incident).

Given the databases of every node of a hierarchy, checks that
- every plan filing a node sent is present exactly once at its parent,
- every ledger entry a node holds is present at every ancestor of that node,
- every framework version a node released is present at every descendant,
- no outbox row is dead, and (with ``drained``) none is still pending.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from node.db import create_engine, session_factory
from node.models import Filing, Framework, LedgerEntry, OutboxRow, PlanVersion, SentFiling


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_tree(databases: dict[str, str], parents: dict[str, str | None], *,
                     drained: bool = True) -> Report:
    rep = Report()
    sent: dict[str, set[str]] = {}
    received: dict[str, Counter[str]] = {}
    ledger: dict[str, set[str]] = {}
    released: dict[str, set[tuple[str, int]]] = {}
    frameworks: dict[str, set[tuple[str, str, int]]] = {}
    outbox: dict[str, dict[str, int]] = {}
    for code, url in databases.items():
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as s:
                sent[code] = set((await s.scalars(select(SentFiling.envelope_id))).all())
                received[code] = Counter((await s.scalars(select(Filing.id))).all())
                ledger[code] = set((await s.scalars(select(LedgerEntry.envelope_id))).all())
                released[code] = {(k, v) for k, v in (await s.execute(
                    select(PlanVersion.kind, PlanVersion.version))).all()}
                frameworks[code] = {(o, k, v) for o, k, v in (await s.execute(
                    select(Framework.origin, Framework.kind, Framework.version))).all()}
                outbox[code] = {str(k): int(v) for k, v in (await s.execute(
                    select(OutboxRow.status, func.count()).group_by(OutboxRow.status))).all()}
        finally:
            await engine.dispose()

    def ancestors(code: str) -> list[str]:
        out, p = [], parents.get(code)
        while p is not None:
            out.append(p)
            p = parents.get(p)
        return out

    for code in databases:
        parent = parents.get(code)
        if parent in databases:
            for env_id in sent[code]:
                n = received[parent][env_id]
                rep.counts["filings"] += 1
                if n != 1:
                    rep.problems.append(f"filing {env_id} of {code} is at {parent} {n} times")
        for anc in ancestors(code):
            if anc not in databases:
                continue
            missing = ledger[code] - ledger[anc]
            rep.counts["ledger"] += len(ledger[code])
            if missing:
                rep.problems.append(f"{len(missing)} ledger entries of {code} missing at {anc}")
        for kind, version in released[code]:
            for desc in (d for d in databases if code in ancestors(d)):
                rep.counts["framework_versions"] += 1
                if (code, kind, version) not in frameworks[desc]:
                    rep.problems.append(f"{code} {kind} v{version} missing at {desc}")
        if outbox[code].get("dead"):
            rep.problems.append(f"{code} has {outbox[code]['dead']} dead outbox rows")
        if drained and outbox[code].get("pending"):
            rep.problems.append(f"{code} still has {outbox[code]['pending']} pending rows")
    return rep
