"""Verifying the audit chain: every link and hash, and every business row against its seal.

Separate from node.audit.service (which appends) so that the row seals (node.audit.seals),
which append through the service, and the verifier, which reads them, import in one
direction only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.seals import ACTION, RowProblem, SealIndex, check_rows
from node.audit.service import GENESIS, entry_hash
from node.models import AuditEntry


@dataclass
class VerifyReport:
    rows: int = 0
    head: str = GENESIS
    last_id: int = 0
    problems: list[str] = field(default_factory=list)
    sealed_rows: int = 0  # business rows compared with their seals
    row_problems: list[RowProblem] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """``<last id>:<head hash>``: record it; ``audit verify --expect`` checks it later."""
        return f"{self.last_id}:{self.head}"

    @property
    def ok(self) -> bool:
        return not self.problems


async def _rows(session: AsyncSession) -> AsyncIterator[AuditEntry]:
    result = await session.stream_scalars(select(AuditEntry).order_by(AuditEntry.id))
    async for row in result:
        yield row


def parse_anchor(text: str) -> tuple[int, str]:
    """``<id>:<hash>`` as printed by ``audit verify``."""
    ident, _, h = text.partition(":")
    if not ident.isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"not an audit anchor: {text!r}; expected <row id>:<64 hex digits> "
                         "as printed by `plansync audit verify`")
    return int(ident), h


async def verify_chain(*, session: AsyncSession, expect: tuple[int, str] | None = None,
                       rows: bool = True) -> VerifyReport:
    """Walk the whole chain; name every modified row and every gap left by a deleted one.

    Deleting the newest rows leaves a shorter chain that is intact in itself; ``expect``, an
    anchor recorded earlier (``<id>:<hash>``), catches that: the row must still be there with
    the same hash.

    With ``rows``, then compare every business row (plans, filings, ledger, reports,
    frameworks: one SELECT per table) with its newest seal in the chain and name each one
    changed, deleted or written behind the application's back (``row_problems``, also in
    ``problems``)."""
    seals = SealIndex()
    rep = VerifyReport()
    expected_id, prev = 1, GENESIS
    async for row in _rows(session):
        rep.rows += 1
        if row.id != expected_id:
            missing = (f"row {expected_id}" if row.id == expected_id + 1
                       else f"rows {expected_id}–{row.id - 1}")
            rep.problems.append(f"{missing} deleted: the chain jumps to row {row.id}")
        elif row.prev_hash != prev:
            rep.problems.append(f"row {row.id}: link to row {row.id - 1} broken (prev_hash)")
        h = entry_hash(id=row.id, prev_hash=row.prev_hash, at=row.at, actor=row.actor,
                       action=row.action, entity=row.entity, entity_id=row.entity_id,
                       before=row.before, after=row.after)
        if h != row.hash:
            rep.problems.append(
                f"row {row.id} modified: content does not match its hash "
                f"({row.action} {row.entity} {row.entity_id})"
            )
        if expect is not None and row.id == expect[0] and row.hash != expect[1]:
            rep.problems.append(f"row {row.id} is not the row recorded as head "
                                f"{expect[0]}:{expect[1][:12]}…: the chain was rewritten")
        if row.action == ACTION:
            seals.add(row.id, row.after)
        expected_id, prev = row.id + 1, row.hash
        rep.last_id = row.id
    rep.head = prev
    if expect is not None and rep.last_id < expect[0]:
        rep.problems.append(f"rows {rep.last_id + 1}–{expect[0]} deleted: the chain ends at row "
                            f"{rep.last_id}, before the recorded head {expect[0]}")
    rep.problems += [f"row {i}: rows.seal entry unreadable" for i in seals.malformed]
    if rows:
        rep.sealed_rows, rep.row_problems = await check_rows(session, seals)
        rep.problems += [str(p) for p in rep.row_problems]
    return rep
