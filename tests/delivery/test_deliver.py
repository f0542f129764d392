"""Delivery on its own: one neighbour, one batch, each row's fate by the answer it got —
delivered, dead (a typed rejection) or backing off (unknown key: the neighbour may learn it
later; neighbour unreachable: the whole target waits)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select

from node.db import transaction
from node.delivery.deliver import deliver_target
from node.models import EnvelopeRecord, OutboxRow
from node.protocol.outbox import envelope_row, outbox_rows
from sync import Directory, Route, Signer, envelope_hash, seal, utcnow
from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.protocol_helpers import example, send


async def rows(c, code: str) -> dict[str, tuple[str, int, bool]]:  # type: ignore[no-untyped-def]
    async with c.rt(code).sessions() as s:
        out = (await s.scalars(select(OutboxRow).order_by(OutboxRow.seq))).all()
    now = utcnow()
    return {r.envelope_id: (r.status, r.attempts, r.next_attempt_at > now) for r in out}


async def test_each_row_gets_the_fate_of_its_answer(tmp_path: Path, db_factory: DbFactory
                                                    ) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603")
        good = await send(c, "150603", "plan.filing", "150600")
        forged = await send(c, "150603", "ledger.entry", "150603", "ancestors",
                            {**example("ledger.entry"), "receiver": "150600"})
        # signed with a key the city does not know (yet): queued by hand, as if rotated
        stranger = seal(signer=Signer.generate(), origin="150603", type="report.filing",
                        recipient="150603", scope="ancestors",
                        body=example("report.filing", "150603"))
        async with transaction(county.sessions) as s:
            now = utcnow()
            await s.execute(insert(EnvelopeRecord), [envelope_row(
                stranger, local=False, receipt={}, content_hash=envelope_hash(stranger),
                now=now)])
            for r in outbox_rows(envelope_id=stranger["id"], route=Route(False, True, ()),
                                 directory=Directory("150603", {"150603": "150600"}), now=now):
                s.add(OutboxRow(**r))
        out = await deliver_target(county, "150600")
        assert out.delivered == 1 and out.dead == 1
        got = await rows(c, "150603")
        assert got[good["id"]][0] == "delivered"
        assert got[forged["id"]][:2] == ("dead", 1)
        # backs off and stays queued (full-jitter backoff may make it due again at once, so
        # the same run can try it more than once; it never goes dead)
        assert got[stranger["id"]][0] == "pending" and got[stranger["id"]][1] >= 1
        async with county.sessions() as s:
            dead = await s.scalar(select(OutboxRow).where(OutboxRow.envelope_id == forged["id"]))
        assert dead is not None and "origin_mismatch" in (dead.last_error or "")


async def test_an_unreachable_neighbour_holds_back_its_whole_queue(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603")
        c.transport.offline.add("n150600.test")
        sent = [await send(c, "150603", "report.filing", "150603", "ancestors",
                           {**example("report.filing", "150603"), "next_year": str(i)})
                for i in range(3)]
        out = await deliver_target(county, "150600")
        assert out.delivered == 0 and out.retry_in is not None and out.retry_in >= 0
        got = await rows(c, "150603")
        assert all(got[e["id"]][0] == "pending" for e in sent)
        assert got[sent[0]["id"]][1] == 1  # the batch that was tried counts an attempt
        c.transport.offline.clear()
        assert (await deliver_target(county, "150600")).delivered == 0  # not yet due
