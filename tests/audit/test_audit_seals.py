"""The audit chain covers the content of the business rows (node.audit.seals): a row edited,
deleted or inserted behind the application's back is named by `audit verify`, on SQLite and
PostgreSQL, through a real multi-node flow and through the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, text, update

from node.audit.seals import SPECS, RowProblem
from node.audit.verify import verify_chain
from node.db import create_engine, session_factory, transaction
from node.db import upgrade as db_upgrade
from node.filings import service as filings
from node.models import (
    AuditEntry,
    Filing,
    Framework,
    LedgerEntry,
    Plan,
    Report,
    ReportValue,
    SentFiling,
)
from node.plans import service as plans
from node.plans.sheets import load_file
from node.reports import service as reports
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.procs import run_cli

LEDGER = LedgerEntry.metadata.tables["ledger"]
TREE = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000"),
        ("150603", "康巴什区", "county", "150600")]


def office() -> Any:
    from node.models import User

    return User(name="office", role="admin", unit=None)


async def publish_plan(c: Cluster, code: str, released: date) -> None:
    rt = c.rt(code)
    pid = plans.plan_id_for(code, "women")
    async with transaction(rt.sessions) as s:
        if await s.get(Plan, pid) is None:
            await plans.create_plan(session=s, code=code, kind="women", title=f"{code} 规划",
                                    document=load_file(SAMPLE, "women"), actor="editor")
        for step in ("consultation", "expert_review", "submit"):
            await plans.advance(session=s, plan_id=pid, step=step, actor="editor")
        await plans.advance(session=s, plan_id=pid, step="approve", actor="director")
        await plans.publish(session=s, rt=rt, plan_id=pid, released_on=released,
                            actor="director", is_admin=True)
    await c.settle()


async def file_report(c: Cluster, code: str) -> None:
    rt = c.rt(code)
    async with transaction(rt.sessions) as s:
        await reports.enter_value(session=s, code=code, kind="women", year=2025,
                                  indicator="W-HEALTH-01", user=office(), numerator=2,
                                  denominator=10_000)
        await reports.set_next_year(session=s, code=code, kind="women", year=2025,
                                    text="继续推进", actor="office")
        await reports.file_report(session=s, rt=rt, kind="women", year=2025, actor="office")
    await c.settle()


def ledger_row(envelope_id: str, late_days: int = 0) -> dict[str, Any]:
    return {"envelope_id": envelope_id, "filing_id": "f", "filing_type": "plan.filing",
            "subject": "150603-women v1", "filer": "150603", "receiver": "150600",
            "received_at": datetime.now(UTC), "due_on": date(2026, 1, 1), "outcome": "accepted",
            "late_days": late_days}


async def verify(c: Cluster, code: str) -> Any:
    async with c.rt(code).sessions() as s:
        return await verify_chain(session=s)


def named(rep: Any) -> dict[tuple[str, str], RowProblem]:
    return {(p.table, p.key): p for p in rep.row_problems}


async def sql(c: Cluster, code: str, statement: str, **params: Any) -> None:
    async with transaction(c.rt(code).sessions) as s:
        await s.execute(text(statement), params)


async def test_verify_names_business_rows_edited_behind_the_applications_back(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        today = date.today()
        await publish_plan(c, "150000", today - timedelta(days=90))  # frameworks down
        await publish_plan(c, "150600", today - timedelta(days=60))  # filed late, receipted
        await publish_plan(c, "150603", today)  # filed on time
        await file_report(c, "150603")  # a report and its values; received by the city

        # the flow touched every kind of tracked row, and a clean tree verifies
        for code in ("150000", "150600", "150603"):
            rep = await verify(c, code)
            assert rep.ok, (code, rep.problems)
            assert rep.sealed_rows > 0
        async with c.rt("150000").sessions() as s:
            seal_entries = (await s.scalars(select(AuditEntry).where(
                AuditEntry.action == "rows.seal"))).all()
            assert seal_entries and all((e.after or {})["v"] == 1 for e in seal_entries)
            # the ingest path's bulk-inserted ledger rows were sealed
            ledger = (await s.scalars(select(LedgerEntry))).all()
        # the city's plan filing, the county's plan and report filings (relayed by the city)
        assert len(ledger) == 3
        county = c.rt("150603")
        async with county.sessions() as s:
            (sent,) = (await s.scalars(select(SentFiling))).all()
            value = (await s.scalars(select(ReportValue))).one()
        assert sent.outcome == "accepted"
        async with c.rt("150600").sessions() as s:
            filings = {f.filer: f for f in (await s.scalars(select(Filing))).all()}
        assert set(filings) == {"150603"}

        # behind the application's back: plain SQL on each node's database
        await sql(c, "150603", "UPDATE sent_filings SET outcome = 'returned'")
        await sql(c, "150600", "UPDATE filings SET late_days = late_days + 30")
        await sql(c, "150000", "UPDATE ledger SET late_days = 0 WHERE late_days > 0")
        await sql(c, "150603", "UPDATE report_values SET value = 1.5")

        rep = await verify(c, "150603")
        assert not rep.ok
        rows = named(rep)
        assert rows[("sent_filings", sent.envelope_id)].fields == ["outcome"]
        assert rows[("sent_filings", sent.envelope_id)].problem == "changed"
        key = f'["{value.report_id}","{value.code}"]'
        assert rows[("report_values", key)].fields == ["value"]
        assert set(rows) == {("sent_filings", sent.envelope_id), ("report_values", key)}
        text_ = "\n".join(rep.problems)
        assert f"sent_filings {sent.envelope_id}: content changed (outcome)" in text_
        assert "report_values" in text_

        rep = await verify(c, "150600")
        assert set(named(rep)) == {("filings", filings["150603"].id)}
        assert named(rep)[("filings", filings["150603"].id)].fields == ["late_days"]

        rep = await verify(c, "150000")
        late = [e for e in ledger if e.late_days > 0]
        assert late, "the city's filing was late"
        assert {(p.table, p.key, tuple(p.fields)) for p in rep.row_problems} == {
            ("ledger", e.envelope_id, ("late_days",)) for e in late}
        assert not [p for p in rep.problems if p.startswith("row ")]  # the chain is intact

        # a row inserted, and one deleted, behind the application's back
        async with transaction(c.rt("150000").sessions) as s:
            victim = ledger[0]
            await s.execute(text("DELETE FROM ledger WHERE envelope_id = :i"),
                            {"i": victim.envelope_id})
            conn = await s.connection()  # straight to the connection: no session events
            await conn.execute(insert(LEDGER).values(
                envelope_id="forged-1", filing_id="x", filing_type="plan.filing",
                subject="s", filer="150699", receiver="150600",
                received_at=datetime.now(UTC), due_on=today, outcome="accepted", late_days=0))
        rep = await verify(c, "150000")
        rows = named(rep)
        assert rows[("ledger", victim.envelope_id)].problem == "deleted"
        assert rows[("ledger", "forged-1")].problem == "unsealed"
        assert "ledger forged-1: no seal" in "\n".join(rep.problems)


async def test_an_edit_stays_named_after_the_application_updates_the_row(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    """Edited behind its back, then legitimately changed and re-sealed by the application
    (a reviewer returns the filing): the earlier edit is still named."""
    async with cluster(tmp_path, db_factory, TREE[:2]) as c:
        await publish_plan(c, "150000", date.today() - timedelta(days=90))
        await publish_plan(c, "150600", date.today())
        prov = c.rt("150000")
        async with prov.sessions() as s:
            (filing,) = (await s.scalars(select(Filing))).all()
        await sql(c, "150000", "UPDATE filings SET late_days = 7, title = 'x'")
        async with transaction(prov.sessions) as s:  # through the application
            await filings.return_filing(session=s, rt=prov, filing_id=filing.id,
                                      reasons="请补充", actor="reviewer")
        rep = await verify(c, "150000")
        (p,) = rep.row_problems
        assert (p.table, p.key, p.problem) == ("filings", filing.id, "changed_before_update")
        assert sorted(p.fields) == ["late_days", "title"]
        # updates through the application alone verify clean (ORM and UPDATE statements)
        city = c.rt("150600")
        async with transaction(city.sessions) as s:
            rep_ = await reports.get_report(s, "150600", "women", 2025, create=True)
            rep_.next_year = "改"
            await s.execute(update(Report).where(Report.id == rep_.id).values(status="draft"))
            await s.execute(update(Framework).values(title="renamed"))
        rep = await verify(c, "150600")
        assert rep.ok, rep.problems


async def test_digests_survive_the_round_trip_through_either_database(
    db_factory: DbFactory,
) -> None:
    """Awkward values (a non-UTC datetime with microseconds, dates, nested JSON with floats,
    astral characters, an int stored in a float column, NULLs) read back so that the seal
    computed from the database equals the one computed from the values written."""
    engine = create_engine(await db_factory())
    try:
        await db_upgrade(engine)
        sessions = session_factory(engine)
        when = datetime(2026, 3, 31, 23, 59, 58, 123456, tzinfo=timezone(timedelta(hours=8)))
        doc = {"b": [1, 2.5, 1e-7, 3.0, {"z": None, "a": "𝄞 妇女"}], "a": True, "n": 10**15}
        values = {
            "report_values": {"report_id": "150000-women-2025", "code": "W-1", "value": 5,
                              "numerator": None, "denominator": 0.1, "source": "entered",
                              "entered_by": "张三", "entered_at": when},
            "frameworks": {"origin": "150000", "kind": "women", "version": 1,
                           "framework_id": "f", "title": "t\n\"q\"",
                           "released_on": date(2021, 12, 30), "document": doc,
                           "envelope_id": "e", "received_at": when,
                           "diff": {"1": [1, 2], "x": {"y": 0.5}}, "breaks": []},
        }
        async with transaction(sessions) as s:
            s.add(ReportValue(**values["report_values"]))
            s.add(Framework(**values["frameworks"]))
            # values whose stored form cannot be predicted are read back at commit
            odd = {**values["frameworks"], "version": 2, "breaks": {7: "int key"}}
            s.add(Framework(**odd))
        async with sessions() as s:
            rep = await verify_chain(session=s)
            assert rep.ok and rep.sealed_rows == 3, rep.problems
            for name, written in values.items():
                spec = SPECS[name]
                stored = (await s.execute(select(*spec.columns).order_by(*spec.pk))).first()
                assert stored is not None
                full = {c.name: None for c in spec.columns} | written
                if name == "frameworks":
                    full["current"] = stored[spec.names.index("current")]
                expected = spec.seal([full[n] for n in spec.names])
                assert spec.seal(stored) == expected, name
    finally:
        await engine.dispose()


async def test_every_way_the_application_writes_is_sealed(db_factory: DbFactory) -> None:
    """ORM objects, bulk inserts, UPDATE and DELETE statements, deletes, and savepoints rolled
    back: the chain ends up agreeing with what is stored."""
    engine = create_engine(await db_factory())
    try:
        await db_upgrade(engine)
        sessions = session_factory(engine)
        async with transaction(sessions) as s:
            await s.execute(insert(LedgerEntry), [ledger_row(f"l-{i}") for i in range(4)])
            sent = SentFiling(envelope_id="s-1", plan_id="p", version=1,
                              sent_at=datetime.now(UTC))
            s.add(sent)
            await s.flush()
            sent.receipt_envelope_id = "r-1"  # changed again after its INSERT
        async with transaction(sessions) as s:
            await s.execute(update(LedgerEntry).where(LedgerEntry.envelope_id.in_(["l-0", "l-1"]))
                            .values(late_days=3))
            await s.execute(update(SentFiling).values(receipt={"outcome": "accepted"}))
            await s.execute(delete(LedgerEntry).where(LedgerEntry.envelope_id == "l-3"))
            row = await s.get(LedgerEntry, "l-2")
            assert row is not None
            await s.delete(row)
            async with s.begin_nested() as sp:  # undone: must not be sealed as written
                s.add(LedgerEntry(**ledger_row("l-9")))
                sent = await s.get(SentFiling, "s-1")
                assert sent is not None
                sent.outcome = "returned"
                await s.flush()
                await sp.rollback()
            sent = await s.get(SentFiling, "s-1")
            assert sent is not None
            sent.version = 2
        async with sessions() as s:
            rep = await verify_chain(session=s)
            assert rep.ok and rep.sealed_rows == 3, rep.problems
            assert (await s.get(SentFiling, "s-1")).outcome is None  # type: ignore[union-attr]
        async with transaction(sessions) as s:
            await s.execute(text("UPDATE sent_filings SET outcome = 'accepted'"))
        async with sessions() as s:
            rep = await verify_chain(session=s)
        assert [str(p) for p in rep.row_problems] == [
            f"sent_filings s-1: content changed (outcome) since it was sealed in audit row "
            f"{rep.row_problems[0].audit_id}"]
    finally:
        await engine.dispose()


async def test_rows_of_an_existing_database_are_sealed_by_the_upgrade(
    db_factory: DbFactory,
) -> None:
    engine = create_engine(await db_factory())
    try:
        await db_upgrade(engine, "0005")
        async with engine.begin() as conn:
            await conn.execute(insert(LEDGER), [ledger_row(f"old-{i}", late_days=i)
                                                               for i in range(3)])
        await db_upgrade(engine)
        sessions = session_factory(engine)
        async with sessions() as s:
            rep = await verify_chain(session=s)
            assert rep.ok and rep.sealed_rows == 3, rep.problems
            # sealed by 0006, re-sealed by 0007 (which filled in the ledger's kind and year)
            actors = (await s.scalars(select(AuditEntry.actor).order_by(AuditEntry.id))).all()
            assert list(actors) == ["migration:0006", "migration:0007"]
            kinds = (await s.scalars(select(LedgerEntry.kind))).all()
            assert set(kinds) == {"women"}, kinds
        async with transaction(sessions) as s:
            await s.execute(text("UPDATE ledger SET outcome = 'returned' "
                                 "WHERE envelope_id = 'old-1'"))
        async with sessions() as s:
            rep = await verify_chain(session=s)
        assert [str(p) for p in rep.row_problems] == [
            "ledger old-1: content changed (outcome) since it was sealed in audit row 2"]
    finally:
        await engine.dispose()


async def test_cli_audit_verify_names_edited_rows(tmp_path: Path, db_url: str) -> None:
    ddir = tmp_path / "prov"
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--base-url", "http://127.0.0.1:9", "--database-url", db_url, "--data-dir",
            str(ddir))
    engine = create_engine(db_url)
    try:
        async with transaction(session_factory(engine)) as s:
            await s.execute(insert(LedgerEntry), [ledger_row(f"e-{i}") for i in range(3)])
        out = run_cli("audit", "verify", "--data-dir", str(ddir)).stdout
        assert "audit chain intact" in out and "3 business rows" in out
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ledger SET late_days = 12 WHERE envelope_id='e-2'"))
            await conn.execute(text("DELETE FROM ledger WHERE envelope_id = 'e-0'"))
    finally:
        await engine.dispose()
    p = run_cli("audit", "verify", "--data-dir", str(ddir), check=False)
    assert p.returncode == 1
    assert "ledger e-2: content changed (late_days) since it was sealed in audit row" in p.stdout
    assert "ledger e-0: row deleted behind the application's back" in p.stdout
    assert "2 problem(s)" in p.stderr
