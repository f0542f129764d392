"""The timeliness audit (督查): every expected filing of a subtree, its due date, when it was
received, by whom, and its status — from this node's ledger, which holds the receipts of its
own children and the ledger entries relayed up from every level below. So a province's audit
of a county is complete while the city in between is offline.

Expected filings per node of the subtree:
- each plan (women, children): due one month after that node's release. Until the filing
  arrives its release date is not known here, so it shows as ``pending`` with no due date.
- each annual report (both kinds) whose due date falls on or after the day the node enrolled
  (joined the tree: ``KnownNode.enrolled_at``) — an office that joined in 2026 owes no
  report on 2021–2024; one it filed anyway is still shown.
  Its due date is that of the framework the node reports under (:func:`due_day`): the due
  date its receiver recorded in the ledger, else the due day of its own plan as filed here
  (or its nearest ancestor's), else this node's own (default March 31 of the next year).
  ``pending`` before the due date, ``overdue`` after it.
Status: ``on_time``, ``late`` (N days), ``returned`` (newest answer was a return; the clock
keeps running until an accepted refiling, so its days late are those so far), ``overdue``,
``pending``.
On-time rate = on time ÷ expected-and-due; reporting rate = received ÷ expected-and-due. Each
expected filing is counted once, so no rate exceeds 100%.

Report years are those of the plan period, 2021–2030 (``year`` and ``from_year`` outside it
are refused): by default every year from 2021 up to last year, never beyond 2030.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.models import KnownNode, LedgerEntry
from node.plans.dates import annual_report_due
from sync import format_ts

KINDS = ("women", "children")
FIRST_YEAR, LAST_YEAR = 2021, 2030  # the plan period (as node.reports.service)


def _in_period(what: str, year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{what} {year} 不在规划期内 is outside the plan period "
                         f"{FIRST_YEAR}–{LAST_YEAR}")


def expected_years(today: date, from_year: int = FIRST_YEAR) -> range:
    """Report years expected by ``today``: ``from_year`` up to last year, within the plan
    period. ValueError if ``from_year`` is outside it."""
    _in_period("from_year", from_year)
    return range(from_year, min(today.year, LAST_YEAR + 1))


@dataclass
class Row:
    code: str
    name: str
    level: str
    parent: str | None
    filing: str  # plan.women | report.women.2023 ...
    due_on: str | None
    received_at: str | None
    receiver: str | None
    status: str
    late_days: int | None
    kind: str = ""  # women | children
    year: int | None = None  # the report year; None for a plan filing
    # every answer to this filing, oldest first: returned ones and their refilings
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:  # not dataclasses.asdict: no deep copy (10^4 rows)
        return {"code": self.code, "name": self.name, "level": self.level,
                "parent": self.parent, "filing": self.filing, "due_on": self.due_on,
                "received_at": self.received_at, "receiver": self.receiver,
                "status": self.status, "late_days": self.late_days, "kind": self.kind,
                "year": self.year, "history": self.history}


class _Led(NamedTuple):
    """The ledger columns the audit reads (plain tuples: no ORM objects for 10^4 rows)."""

    envelope_id: str
    filer: str
    filing_type: str
    kind: str | None
    year: int | None
    received_at: datetime
    receiver: str
    due_on: date | None
    outcome: str
    late_days: int


_LED_COLUMNS = (LedgerEntry.envelope_id, LedgerEntry.filer, LedgerEntry.filing_type,
                LedgerEntry.kind, LedgerEntry.year, LedgerEntry.received_at,
                LedgerEntry.receiver, LedgerEntry.due_on, LedgerEntry.outcome,
                LedgerEntry.late_days)


def _key(e: _Led) -> str:
    """What a ledger row is about: ``plan.<kind>`` or ``report.<kind>.<year>``."""
    if e.filing_type == "plan.filing":
        return f"plan.{e.kind}"
    return f"report.{e.kind}.{e.year}"


def _joined(n: KnownNode) -> date | None:
    return n.enrolled_at.date() if n.enrolled_at is not None else None


def _status(
    entries: list[_Led], due: date | None, today: date
) -> tuple[str, _Led | None]:
    """The newest answer decides (ledger ids are time-ordered UUIDv7): an accepted refiling
    after a return counts with its own lateness against the original due date. ``entries``
    are oldest first."""
    if entries:
        e = entries[-1]
        if e.outcome == "returned":
            return "returned", e
        return ("late" if e.late_days else "on_time"), e
    if due is not None and today > due:
        return "overdue", None
    return "pending", None


async def timeliness(*, session: AsyncSession, self_code: str, today: date,
                     subtree: str | None = None, year: int | None = None,
                     report_years: range | None = None,
                     kinds: dict[str, str] | None = None) -> dict[str, Any]:
    """``kinds`` maps each plan kind in force here to its annual report due day (MM-DD);
    by default both kinds, due March 31. ValueError if ``year`` or a report year is outside
    the plan period; KeyError if ``subtree`` is not known here."""
    if year is not None:
        _in_period("year", year)
    for y in report_years or ():
        _in_period("report year", y)
    kinds = kinds or dict.fromkeys(KINDS, "03-31")
    nodes = {n.code: n for n in (await session.scalars(select(KnownNode))).all()}
    root = subtree or self_code
    if root not in nodes:
        raise KeyError(root)
    kids: dict[str | None, list[str]] = {}
    for n in nodes.values():
        kids.setdefault(n.parent_code, []).append(n.code)
    members: list[str] = []
    todo = list(kids.get(root, []))
    while todo:
        c = todo.pop(0)
        members.append(c)
        todo.extend(sorted(kids.get(c, [])))
    # every ledger row is about this node's subtree: read them all (an IN over thousands of
    # codes costs more than it saves) and keep the members'
    wanted = set(members)
    ledger = sorted((_Led._make(r) for r in (await session.execute(select(*_LED_COLUMNS))).all()
                     if r[1] in wanted), key=lambda e: e.envelope_id)  # oldest first
    by: dict[tuple[str, str], list[_Led]] = {}
    newest_due: dict[tuple[str, str], date] = {}  # (filer, kind) → newest report's due date
    for entry in ledger:
        by.setdefault((entry.filer, _key(entry)), []).append(entry)
        if entry.filing_type == "report.filing" and entry.due_on is not None:
            newest_due[(entry.filer, entry.kind or "")] = entry.due_on
    years = ([year] if year is not None else
             list(report_years if report_years is not None else expected_years(today)))
    parents = {c: n.parent_code for c, n in nodes.items()}
    filed = await _filed_due_days(session)
    rows: list[Row] = []
    for code in members:
        n = nodes[code]
        joined = _joined(n)
        expected: list[tuple[str, date | None]] = []
        if year is None:
            expected += [(f"plan.{k}", None) for k in kinds]
        for k, mm_dd in kinds.items():
            day = due_day(code, k, self_code=self_code, parents=parents, filed=filed,
                          newest=newest_due, own=mm_dd)
            # what was really due: a report whose due date came after the office joined
            # (or one it filed anyway) — never the years before it was in the tree
            expected += [(f"report.{k}.{y}", annual_report_due(y, day)) for y in years
                         if joined is None or annual_report_due(y, day) >= joined
                         or (code, f"report.{k}.{y}") in by]
        for filing, due in expected:
            entries = by.get((code, filing), [])
            status, e = _status(entries, due, today)
            if e is not None and e.due_on is not None:
                due = e.due_on
            late = e.late_days if e else None
            if status == "returned" and e is not None and due is not None:
                late = max(e.late_days, (today - due).days, 0)  # the clock keeps running
            parts = filing.split(".")
            history = [{"received_at": format_ts(x.received_at), "outcome": x.outcome,
                        "late_days": x.late_days, "receiver": x.receiver} for x in entries]
            rows.append(Row(code, n.name, n.level, n.parent_code, filing,
                            due.isoformat() if due else None,
                            format_ts(e.received_at) if e else None,
                            e.receiver if e else None, status,
                            late, parts[1],
                            int(parts[2]) if len(parts) > 2 else None, history))
    return {"root": root, "generated_on": today.isoformat(), "rows": [r.as_dict() for r in rows],
            "by_node": _rates(rows, lambda r: r.code),
            "by_level": _rates(rows, lambda r: r.level)}


async def _filed_due_days(session: AsyncSession) -> dict[tuple[str, str], str]:
    from node.reports.service import filed_due_days

    return await filed_due_days(session)


def due_day(code: str, kind: str, *, self_code: str, parents: dict[str, str | None],
            filed: dict[tuple[str, str], str], newest: dict[tuple[str, str], date],
            own: str) -> str:
    """The annual report due day (MM-DD) of ``code``'s reports of ``kind``, from what is known
    here of the framework it reports under: the due date its receiver recorded for its
    newest report in the ledger (``newest``: (filer, kind) → that date), else
    its own plan as filed here (or its nearest ancestor's:
    node.reports.service.due_day_of), else ``own`` (this node's)."""
    recorded = newest.get((code, kind))
    if recorded is not None:
        return recorded.strftime("%m-%d")
    from node.reports.service import due_day_of

    return due_day_of(code, kind, self_code=self_code, parents=parents, filed=filed, own=own)


async def kinds_in_force(session: AsyncSession, code: str) -> dict[str, str]:
    """Plan kinds this node has (published or draft) and their annual report due day."""
    from node.reports.service import own_document

    out = {}
    for k in KINDS:
        doc = await own_document(session, code, k)
        if doc is not None:
            out[k] = doc.annual_report_due
    return out


def _rates(rows: list[Row], key: Any) -> list[dict[str, Any]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = []
    for k, rs in groups.items():
        due = [r for r in rs if r.status != "pending"]
        on_time = sum(r.status == "on_time" for r in due)
        received = sum(r.status in ("on_time", "late", "returned") for r in due)
        out.append({"group": k, "expected": len(rs), "due": len(due), "on_time": on_time,
                    "late": sum(r.status == "late" for r in due),
                    "returned": sum(r.status == "returned" for r in due),
                    "overdue": sum(r.status == "overdue" for r in due),
                    "pending": len(rs) - len(due),
                    "on_time_rate": round(on_time / len(due), 4) if due else None,
                    "reporting_rate": round(received / len(due), 4) if due else None})
    return out


