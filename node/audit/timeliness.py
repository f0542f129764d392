"""The timeliness audit (督查): every expected filing of a subtree, its due date, when it was
received, by whom, and its status — from this node's ledger, which holds the receipts of its
own children and the ledger entries relayed up from every level below. So a province's audit
of a county is complete while the city in between is offline.

The subtree is the real one: the offices enrolled below this node **and** every office the
division tree (node.divisions, computed once per call) puts below them that never enrolled —
a city of nine counties with one enrolled is audited over nine. Below an office that never
enrolled its own division children are expected too (the whole expected tree). At the
optional national node (000000) the first level is the 34 provincial-level units of the
division tree (node.divisions.division_children), so the whole country is audited.

Expected filings per node of the subtree:
- each plan (women, children): due one month after that node's release. Until the filing
  arrives its release date is not known here; if the parent set a deadline for its
  children's plans (``child_plan_due_months`` in the parent's plan, N months after the
  parent's first release: known here for this node's children, from its own plan, and for
  its grandchildren, from the plans its children filed here) a plan never filed is
  ``overdue`` after it, else ``pending`` with no due date.
- each annual report (both kinds) whose due date falls on or after the day the node enrolled
  (joined the tree: ``KnownNode.enrolled_at``) — an office that joined in 2026 owes no
  report on 2021–2024; one it filed anyway is still shown.
  Its due date is that of the framework the node reports under (:func:`due_day`): the due
  date its receiver recorded in the ledger, else the due day of its own plan as filed here
  (or its nearest ancestor's), else this node's own (default March 31 of the next year).
  ``pending`` before the due date, ``overdue`` after it.
Status: ``on_time``, ``late`` (N days), ``returned`` (newest answer was a return; the clock
keeps running until an accepted refiling, so its days late are those so far), ``overdue``
(超期未报: enrolled, past due, nothing filed), ``not_enrolled`` (未接入: the office never
enrolled and the filing is past due — it could not file at all, which is a different finding
from an office that could and did not), ``pending`` (not due yet, or no due date known).
On-time rate = on time ÷ expected-and-due; reporting rate = received ÷ expected-and-due, where
"due" counts ``not_enrolled`` filings too (so a tree that is mostly not enrolled has a low
rate, not 100%). Each expected filing is counted once, so no rate exceeds 100%.

Report years are those of the plan period, 2021–2030 (``year`` and ``from_year`` outside it
are refused): by default every year from 2021 up to last year, never beyond 2030.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.divisions import division, division_children
from node.models import Filing, KnownNode, LedgerEntry, PlanVersion
from node.plans.dates import annual_report_due, child_plan_due
from sync import format_ts

KINDS = ("women", "children")
FIRST_YEAR, LAST_YEAR = 2021, 2030  # the plan period (as node.reports.service)


def _in_period(what: str, year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{what} {year} 不在规划期内 is outside the plan period "
                         f"{FIRST_YEAR}–{LAST_YEAR}")


STAGES = (2025, 2030)  # mid-term and final evaluation (中期评估, 终期评估), node.evaluations
EVALUATION_DUE = "06-30"  # default due day of an evaluation report, of the year after a stage


def evaluation_due(stage: int, mm_dd: str | None = None) -> date:
    """The evaluation report on ``stage`` (2025 or 2030) is due on MM-DD of the year after
    (default June 30), clamped to the month's end as annual reports are."""
    return annual_report_due(stage, mm_dd or EVALUATION_DUE)


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
    if e.filing_type == "evaluation.filing":  # node.evaluations: year is the stage
        return f"evaluation.{e.kind}.{e.year}"
    return f"report.{e.kind}.{e.year}"


class _Office(NamedTuple):
    """An office of the subtree: enrolled (from ``KnownNode``) or only expected (from the
    division tree, ``enrolled`` False)."""

    name: str
    level: str
    parent_code: str | None
    enrolled_at: datetime | None
    enrolled: bool


def _status(
    entries: list[_Led], due: date | None, today: date, enrolled: bool = True
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
        return ("overdue" if enrolled else "not_enrolled"), None
    return "pending", None


async def timeliness(*, session: AsyncSession, self_code: str, today: date,
                     subtree: str | None = None, year: int | None = None,
                     report_years: range | None = None,
                     kinds: dict[str, str] | None = None,
                     evaluations: dict[str, str | None] | None = None,
                     what: str | None = None) -> dict[str, Any]:
    """``kinds`` maps each plan kind in force here to its annual report due day (MM-DD);
    by default both kinds, due March 31. ``evaluations`` maps plan kinds to the due day of
    their evaluation reports (None: June 30); an evaluation of a stage (2025, 2030) is
    expected when the stage is one of the report years audited; by default none is
    expected (callers pass :func:`evaluation_days_in_force`). ValueError if ``year`` or a
    report year is outside the plan period; KeyError if ``subtree`` is not known here.
    ``what`` (plan | report | evaluation) keeps only those filings, rates included."""
    if year is not None:
        _in_period("year", year)
    for y in report_years or ():
        _in_period("report year", y)
    kinds = kinds or dict.fromkeys(KINDS, "03-31")
    known = {n.code: n for n in (await session.scalars(select(KnownNode))).all()}
    root = subtree or self_code
    if root not in known:
        raise KeyError(root)
    nodes = {c: _Office(k.name, k.level, k.parent_code, k.enrolled_at, True)
             for c, k in known.items()}
    kids: dict[str | None, list[str]] = {}
    for kn in known.values():
        kids.setdefault(kn.parent_code, []).append(kn.code)
    members = _members(root, kids, nodes)
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
    deadlines = await _plan_deadlines(session, self_code) if year is None else {}
    ev_dues = [(f"evaluation.{k}.{y}", evaluation_due(y, ev_day))  # once, not per office
               for k, ev_day in (evaluations or {}).items() for y in STAGES if y in years]
    rows: list[Row] = []
    for code in members:
        n = nodes[code]
        joined = n.enrolled_at.date() if n.enrolled_at is not None else None
        expected: list[tuple[str, date | None]] = []
        if year is None:
            expected += [(f"plan.{k}", deadlines.get((n.parent_code or "", k))) for k in kinds]
        for k, mm_dd in kinds.items():
            day = due_day(code, k, self_code=self_code, parents=parents, filed=filed,
                          newest=newest_due, own=mm_dd)
            # what was really due: a report whose due date came after the office joined
            # (or one it filed anyway) — never the years before it was in the tree
            expected += [(f"report.{k}.{y}", annual_report_due(y, day)) for y in years
                         if joined is None or annual_report_due(y, day) >= joined
                         or (code, f"report.{k}.{y}") in by]
        for filing, ev_due in ev_dues:  # mid-term / final evaluations
            if joined is None or ev_due >= joined or (code, filing) in by:
                expected.append((filing, ev_due))
        for filing, due in expected:
            entries = by.get((code, filing), [])
            status, e = _status(entries, due, today, n.enrolled)
            if e is not None and e.due_on is not None:
                due = e.due_on
            late = e.late_days if e else None
            if status == "returned" and e is not None and due is not None:
                late = max(e.late_days, (today - due).days, 0)  # the clock keeps running
            parts = filing.split(".")
            history: list[dict[str, Any]] = [
                {"received_at": format_ts(x.received_at), "outcome": x.outcome,
                 "late_days": x.late_days, "receiver": x.receiver} for x in entries]
            rows.append(Row(code, n.name, n.level, n.parent_code, filing,
                            due.isoformat() if due else None,
                            str(history[-1]["received_at"]) if e else None,  # e: the newest
                            e.receiver if e else None, status,
                            late, parts[1],
                            int(parts[2]) if len(parts) > 2 else None, history))
    if what is not None:
        rows = [r for r in rows if r.filing.partition(".")[0] == what]
    return {"root": root, "generated_on": today.isoformat(), "rows": [r.as_dict() for r in rows],
            "by_node": _rates(rows, lambda r: r.code),
            "by_level": _rates(rows, lambda r: r.level)}


def _members(root: str, kids: dict[str | None, list[str]], nodes: dict[str, _Office]
             ) -> list[str]:
    """The subtree below ``root``, parents first: the enrolled offices and, below each office
    (enrolled or not), its division-tree children that are not known here. Adds the
    not-enrolled ones to ``nodes``. One pass over a prebuilt index (division_children)."""
    expected = division_children()
    members: list[str] = []

    def below(c: str) -> list[str]:
        out = sorted(kids.get(c, []))
        for x in expected.get(c, ()):
            if x not in nodes and (d := division(x)) is not None:
                nodes[x] = _Office(d.name, d.level, c, None, False)
                out.append(x)
        return out

    todo = below(root)
    i = 0
    while i < len(todo):
        c = todo[i]
        i += 1
        members.append(c)
        todo.extend(below(c))
    return members


async def _plan_deadlines(session: AsyncSession, self_code: str
                          ) -> dict[tuple[str, str], date]:
    """(parent code, kind) → the deadline that parent set for its children's plans of the
    kind (its ``child_plan_due_months`` after its first release), where known here: this
    node's own published plans, and the plans its children filed here."""
    out: dict[tuple[str, str], date] = {}
    first: dict[tuple[str, str], date] = {}
    months: dict[tuple[str, str], int | None] = {}
    own = (await session.execute(
        select(PlanVersion.kind, PlanVersion.released_on, PlanVersion.document)
        .where(PlanVersion.plan_id.like(f"{self_code}-%"))
        .order_by(PlanVersion.version))).all()
    rows: list[tuple[str, str, date, Any]] = [(self_code, k, r, doc) for k, r, doc in own]
    rows += [tuple(r) for r in (await session.execute(
        select(Filing.filer, Filing.kind, Filing.released_on, Filing.document)
        .order_by(Filing.received_at))).all()]
    for code, kind, released, doc in rows:  # oldest first: the newest document decides N
        key = (code, kind)
        first[key] = min(first.get(key, released), released)
        m = (doc or {}).get("child_plan_due_months")
        months[key] = m if isinstance(m, int) and m > 0 else None
    for key, m in months.items():
        if m is not None:
            out[key] = child_plan_due(first[key], m)
    return out


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


async def evaluation_days_in_force(session: AsyncSession, code: str
                                   ) -> dict[str, str | None]:
    """Plan kinds this node has and the due day of their evaluation reports (None: the
    default, June 30) — what the audit expects evaluations of (node.evaluations)."""
    from node.reports.service import own_document

    out: dict[str, str | None] = {}
    for k in KINDS:
        doc = await own_document(session, code, k)
        if doc is not None:
            out[k] = doc.evaluation_due
    return out


def _rates(rows: list[Row], key: Any) -> list[dict[str, Any]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = []
    for k, rs in groups.items():
        due = [r for r in rs if r.status != "pending"]  # not_enrolled counts as due
        on_time = sum(r.status == "on_time" for r in due)
        received = sum(r.status in ("on_time", "late", "returned") for r in due)
        out.append({"group": k, "expected": len(rs), "due": len(due), "on_time": on_time,
                    "late": sum(r.status == "late" for r in due),
                    "returned": sum(r.status == "returned" for r in due),
                    "overdue": sum(r.status == "overdue" for r in due),
                    "not_enrolled": sum(r.status == "not_enrolled" for r in due),
                    "pending": len(rs) - len(due),
                    "on_time_rate": round(on_time / len(due), 4) if due else None,
                    "reporting_rate": round(received / len(due), 4) if due else None})
    return out


