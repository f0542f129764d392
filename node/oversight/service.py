"""Oversight (督查/评估) read models for a city or province: the overview of its subtree, the
timeliness audit as filtered, sorted pages, the status buckets of the indicators, and the
health of the sync links to children and parent. Read-only."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.timeliness import (
    evaluation_days_in_force,
    expected_years,
    kinds_in_force,
    timeliness,
)
from node.divisions import division
from node.models import (
    EnvelopeRecord,
    Filing,
    KnownNode,
    LedgerEntry,
    NodeKey,
    OutboxRow,
    Plan,
    PlanVersion,
)
from node.plans.document import Indicator
from node.reports.warnings import END_YEAR, meets, trend
from sync import format_ts, utcnow

# audit statuses, the most urgent first (the default order of the audit page)
STATUS_ORDER = {"overdue": 0, "not_enrolled": 1, "returned": 2, "late": 3, "pending": 4,
                "on_time": 5}
LEVELS = ("national", "province", "city", "county")
# what a filing is: a plan filing, an annual report, a mid-term/final evaluation report; a
# row is identified by office and ``filing`` (plan.<kind>, report.<kind>.<year>,
# evaluation.<kind>.<stage>), never by office and year (a 2025 report and the 2025 mid-term
# evaluation are two rows)
WHATS = ("plan", "report", "evaluation")
SORTS = ("status", "due_on", "received_at", "late_days", "code", "name", "level", "filing")
SILENT_AFTER = timedelta(days=30)  # an office not heard from for this long is listed


def city_of(code: str, nodes: dict[str, KnownNode]) -> str | None:
    """The city-level ancestor of ``code`` (itself if it is a city), else None."""
    n = nodes.get(code)
    while n is not None:
        if n.level == "city":
            return n.code
        n = nodes.get(n.parent_code) if n.parent_code else None
    return None


def _expected_city(r: dict[str, Any]) -> str | None:
    """The city of an office that never enrolled (未接入), from the division tree."""
    if r["level"] == "city":
        return str(r["code"])
    parent = division(r["parent"]) if r["parent"] else None
    return parent.code if parent is not None and parent.level == "city" else None


# the audit of a subtree of thousands of offices takes about a second to compute; its pages,
# filters and sorts are asked for one after another, so the last few results are kept, keyed
# by what they are computed from (a changed ledger, tree, filing or plan computes anew)
_CACHE: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
_CACHE_SIZE = 4


async def _fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    parts: list[Any] = []
    for q in (select(func.count(), func.max(LedgerEntry.envelope_id)),
              select(func.count(), func.max(KnownNode.enrolled_at),
                     func.max(KnownNode.parent_code)),
              select(func.count(), func.max(Filing.received_at)),
              select(func.count(), func.max(Plan.updated_at))):
        parts.extend((await session.execute(q)).one())
    return tuple(parts)


async def audit_rows(session: AsyncSession, *, self_code: str, today: date,
                     from_year: int, subtree: str | None = None) -> list[dict[str, Any]]:
    """Every expected filing of the subtree with its city, days late, history (KeyError if
    ``subtree`` is unknown, ValueError if ``from_year`` is outside the plan period). The
    rows are shared with the cache: callers must not change them."""
    key = (str(session.get_bind().engine.url), self_code, today, from_year, subtree,
           await _fingerprint(session))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    rows = await _audit_rows(session, self_code=self_code, today=today, from_year=from_year,
                             subtree=subtree)
    _CACHE[key] = rows
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return rows


async def _audit_rows(session: AsyncSession, *, self_code: str, today: date,
                      from_year: int, subtree: str | None = None) -> list[dict[str, Any]]:
    rep = await timeliness(session=session, self_code=self_code, subtree=subtree, today=today,
                           report_years=expected_years(today, from_year),
                           kinds=await kinds_in_force(session, self_code) or None,
                           evaluations=await evaluation_days_in_force(session, self_code))
    nodes = {n.code: n for n in (await session.scalars(select(KnownNode))).all()}
    rows: list[dict[str, Any]] = rep["rows"]
    for r in rows:
        r["what"] = r["filing"].partition(".")[0]
        r["city"] = city_of(r["code"], nodes) or _expected_city(r)
        if r["status"] == "overdue" and r["due_on"]:  # still not filed: the clock runs
            r["late_days"] = (today - date.fromisoformat(r["due_on"])).days
    return rows


@dataclass
class AuditQuery:
    level: str | None = None
    kind: str | None = None
    year: int | None = None  # a report year (or an evaluation's stage); 0 = plan filings only
    what: str | None = None  # plan | report | evaluation (WHATS)
    status: str | None = None
    city: str | None = None
    office: str | None = None
    sort: str = "status"
    desc: bool = False
    page: int = 1
    size: int = 50


def select_rows(rows: list[dict[str, Any]], q: AuditQuery) -> tuple[int, list[dict[str, Any]]]:
    """Filter, sort (the most urgent first by default) and cut one page: (total, page)."""
    out = [r for r in rows
           if (q.level is None or r["level"] == q.level)
           and (q.kind is None or r["kind"] == q.kind)
           and (q.what is None or r["what"] == q.what)
           and (q.year is None or (r["year"] is None if q.year == 0 else r["year"] == q.year))
           and (q.status is None or r["status"] == q.status)
           and (q.city is None or r["city"] == q.city)
           and (q.office is None or r["code"] == q.office)]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        v = STATUS_ORDER.get(r["status"], 9) if q.sort == "status" else r.get(q.sort)
        # rows without a value sort last either way; ties by due date, then office
        return (v is None, v if v is not None else 0, r["due_on"] or "", r["code"], r["filing"])

    out.sort(key=key, reverse=q.desc)
    if q.desc:  # keep "no value" last when descending too
        out = [r for r in out if r.get(q.sort) is not None or q.sort == "status"] + \
              [r for r in out if r.get(q.sort) is None and q.sort != "status"]
    start = (q.page - 1) * q.size
    return len(out), out[start:start + q.size]


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    c = dict.fromkeys(STATUS_ORDER, 0)
    for r in rows:
        c[r["status"]] = c.get(r["status"], 0) + 1
    return c


async def overview(session: AsyncSession, *, self_code: str, today: date, year: int,
                   open_warnings: int) -> dict[str, Any]:
    """The cards and the subtree tree of the 概览 page for one report year."""
    rows = await audit_rows(session, self_code=self_code, today=today,
                            from_year=min(year, max(2021, today.year - 1)))
    plans = [r for r in rows if r["what"] == "plan"]
    # annual reports of the year only: evaluations (their own cards, not in the rates below)
    reports = [r for r in rows if r["what"] == "report" and r["year"] == year]
    evaluations = [r for r in rows if r["what"] == "evaluation"]
    nodes = {n.code: n for n in (await session.scalars(select(KnownNode))).all()}
    members = sorted({r["code"] for r in rows})
    now = utcnow()
    silent = []
    for c in members:
        if c not in nodes:
            continue  # never enrolled (未接入): not an office that went silent
        seen = nodes[c].last_contact_at
        if seen is None or now - seen > SILENT_AFTER:
            silent.append({"code": c, "name": nodes[c].name, "level": nodes[c].level,
                           "last_contact_at": format_ts(seen) if seen else None})
    by_level = []
    for level in LEVELS:
        for what, group in (("plan", plans), ("report", reports)):
            g = [r for r in group if r["level"] == level]
            if not g:
                continue
            due = [r for r in g if r["status"] != "pending"]
            filed = [r for r in due if r["status"] in ("on_time", "late", "returned")]
            on_time = [r for r in due if r["status"] == "on_time"]
            by_level.append({"level": level, "what": what, "expected": len(g), "due": len(due),
                             "filed": len(filed), "on_time": len(on_time),
                             "reporting_rate": len(filed) / len(due) if due else None,
                             "on_time_rate": len(on_time) / len(due) if due else None})
    worst: dict[str, str] = {}
    for r in plans + reports:
        if STATUS_ORDER[r["status"]] < STATUS_ORDER.get(worst.get(r["code"], "on_time"), 9):
            worst[r["code"]] = r["status"]
    per: dict[str, list[dict[str, Any]]] = {}
    for r in plans + reports:  # once, not a scan of every row per office
        per.setdefault(r["code"], []).append(r)
    first: dict[str, dict[str, Any]] = {}
    for r in rows:  # name, level, parent of every office, enrolled or not (未接入)
        first.setdefault(r["code"], r)
    tree = [{"code": c, "name": first[c]["name"], "level": first[c]["level"],
             "parent": first[c]["parent"], "status": worst.get(c, "on_time"),
             "counts": _counts(per.get(c, []))}
            for c in members]
    return {"year": year, "generated_on": today.isoformat(),
            "plans": _counts(plans), "reports": _counts(reports),
            "evaluations": _counts(evaluations), "by_level": by_level,
            "open_warnings": open_warnings, "silent": silent, "tree": tree}


BUCKETS = ("already_met", "on_track", "at_risk", "off_target", "no_data")


def bucket(ind: Indicator, series: list[tuple[int, float]]) -> str:
    """The status an office reports for an indicator: 提前达标 already met (the latest value
    meets the target), 预计可达标 on track (not yet, but the trend of two or more years meets
    it by 2030), 达标困难 at risk (the trend moves toward the target but misses it by 2030),
    未达标 off target (not met, and no trend toward it), 无数据 no data."""
    pts = sorted(series)
    if not pts:
        return "no_data"
    if meets(ind, pts[-1][1]):
        return "already_met"
    if len(pts) >= 2:
        slope, icpt = trend(pts)
        if meets(ind, slope * END_YEAR + icpt):
            return "on_track"
        better = slope < 0 if ind.direction == "lower_is_better" else slope > 0
        if better:
            return "at_risk"
    return "off_target"


async def sync_health(session: AsyncSession, *, self_code: str) -> dict[str, Any]:
    """Per neighbour (parent and children): last contact, outbox depth, the oldest
    undelivered envelope, dead letters with their errors, and the current framework version
    each child has been sent (delivered) of each kind of this office's own framework."""
    neighbours = (await session.scalars(select(KnownNode).where(
        KnownNode.relation.in_(("parent", "child"))).order_by(KnownNode.code))).all()
    now = utcnow()
    pending = {t: (n, oldest) for t, n, oldest in (await session.execute(
        select(OutboxRow.target_code, func.count(), func.min(OutboxRow.created_at))
        .where(OutboxRow.status == "pending").group_by(OutboxRow.target_code))).all()}
    dead_rows = (await session.execute(
        select(OutboxRow, EnvelopeRecord.type).join(
            EnvelopeRecord, EnvelopeRecord.id == OutboxRow.envelope_id, isouter=True)
        .where(OutboxRow.status == "dead").order_by(OutboxRow.seq))).all()
    dead: dict[str, list[dict[str, Any]]] = {}
    for row, etype in dead_rows:
        dead.setdefault(row.target_code, []).append({
            "seq": row.seq, "envelope_id": row.envelope_id, "type": etype,
            "error": row.last_error, "attempts": row.attempts,
            "created_at": format_ts(row.created_at)})
    # the newest version of this office's own framework (its published plan, released down)
    # of each kind that reached each child
    own = (await session.execute(
        select(PlanVersion.kind, PlanVersion.version, OutboxRow.target_code,
               OutboxRow.status)
        .join(OutboxRow, OutboxRow.envelope_id == PlanVersion.release_envelope_id,
              isouter=True)
        .where(PlanVersion.plan_id.like(f"{self_code}-%")))).all()
    own_fw: dict[str, int] = {}
    held: dict[str, dict[str, int]] = {}
    for kind, version, target, status in own:
        own_fw[kind] = max(own_fw.get(kind, 0), version)
        if target is not None and status == "delivered":
            cur = held.setdefault(target, {})
            cur[kind] = max(cur.get(kind, 0), version)
    keys = {k.code: k for k in (await session.scalars(select(NodeKey).where(
        NodeKey.status == "active", NodeKey.valid_until.is_(None)))).all()}
    out = []
    for n in neighbours:
        depth, oldest = pending.get(n.code, (0, None))
        key = keys.get(n.code)
        out.append({
            "code": n.code, "name": n.name, "level": n.level, "relation": n.relation,
            "base_url": n.base_url,
            "last_contact_at": format_ts(n.last_contact_at) if n.last_contact_at else None,
            "pending": depth,
            "oldest_pending_at": format_ts(oldest) if oldest else None,
            "oldest_pending_seconds": (now - oldest).total_seconds() if oldest else None,
            "dead": dead.get(n.code, []),
            "key_id": key.key_id if key else None,
            "frameworks": held.get(n.code, {}) if n.relation == "child" else {},
        })
    return {"neighbours": out,
            "own_frameworks": own_fw}


async def retry_dead(session: AsyncSession, *, seq: int | None, target: str | None
                     ) -> list[OutboxRow]:
    """Put dead letters (one by ``seq``, or all of ``target``'s, or all) back in line: due
    now, attempts from zero. Returns the rows; the caller kicks delivery after the commit."""
    q = select(OutboxRow).where(OutboxRow.status == "dead")
    if seq is not None:
        q = q.where(OutboxRow.seq == seq)
    if target is not None:
        q = q.where(OutboxRow.target_code == target)
    rows = list((await session.scalars(q)).all())
    now = utcnow()
    for r in rows:
        r.status, r.attempts, r.next_attempt_at = "pending", 0, now
    return rows
