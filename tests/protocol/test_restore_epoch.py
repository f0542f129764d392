"""Restored nodes (docs/protocol.md, "Restored nodes"): epochs, taking back one's own
envelopes, and catching up with the parent first — on SQLite and PostgreSQL, in one process.
The whole story with real processes is tests/lab/test_restore.py."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, select

from node.db import transaction
from node.delivery.pull import pull_parent
from node.models import AuditEntry, EnvelopeRecord, KnownNode, OutboxRow
from node.protocol.outbox import renew_epoch
from sync import Signer, seal
from tests.cluster import Cluster, cluster, url_of
from tests.conftest import DbFactory
from tests.protocol_helpers import example, send


async def _me(c: Cluster, code: str) -> KnownNode:
    async with c.rt(code).sessions() as s:
        me = await s.get(KnownNode, code)
    assert me is not None
    return me


async def test_epochs_are_shown_and_a_new_one_makes_the_child_resend(
        tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county, city = c.rt("150603"), c.rt("150600")
        # something the city signed, held by the county; something the county sent up
        release = await send(c, "150600", "framework.release", "150600", "subtree",
                             body={**example("framework.release"),
                                   "framework_id": "150600-women"})
        report = await send(c, "150603", "report.filing", "150603", "ancestors")
        await c.settle()
        page = await county.client.pull(url_of("150600"), signer=county.signer,
                                        code="150603", after=0, epoch="ab12")
        epoch = (await _me(c, "150600")).epoch
        assert epoch and page["epoch"] == epoch
        async with c.client("150600") as http:  # every push answer names it too
            r = await http.post("/sync/v1/envelopes", json={"envelopes": [report]})
        assert r.json()["results"][0] == {**r.json()["results"][0], "status": "duplicate",
                                          "epoch": epoch}
        await pull_parent(county, c.registry("150603"))  # the county records the epoch
        async with county.sessions() as s:
            assert (await s.get(KnownNode, "150600")).epoch == epoch  # type: ignore[union-attr]
            before = await s.scalar(select(func.count()).select_from(OutboxRow))
        # the city is "restored": a new epoch; the county's next pull notices it
        async with transaction(city.sessions) as s:
            new = await renew_epoch(s, "150600")
        assert new != epoch
        await pull_parent(county, c.registry("150603"))
        async with county.sessions() as s:
            parent = await s.get(KnownNode, "150600")
            assert parent is not None and parent.epoch == new
            again = (await s.scalars(select(OutboxRow.envelope_id).where(
                OutboxRow.target_code == "150600", OutboxRow.status == "pending")
                .order_by(OutboxRow.seq))).all()
            audits = (await s.scalars(select(AuditEntry.after).where(
                AuditEntry.action == "peer.restored"))).all()
            n = await s.scalar(select(func.count()).select_from(OutboxRow))
        # first what the city signed, then what the county sent: new rows, in that order
        assert again.index(release["id"]) < again.index(report["id"])
        assert n == (before or 0) + len(again)
        assert len(audits) == 1 and audits[0]["returned"] >= 1
        # seeing the same epoch again does nothing more
        await pull_parent(county, c.registry("150603"))
        async with county.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(OutboxRow)) == n
        # the city catches up (its parent first, then the county's re-sending); its release,
        # lost here, comes back as its own
        await pull_parent(city, c.registry("150600"))
        async with transaction(city.sessions) as s:
            await s.execute(delete(OutboxRow).where(OutboxRow.envelope_id == release["id"]))
            await s.execute(delete(EnvelopeRecord).where(EnvelopeRecord.id == release["id"]))
        await c.settle()
        async with city.sessions() as s:
            back = await s.get(EnvelopeRecord, release["id"])
        assert back is not None and back.reclaimed and back.receipt["status"] == "reclaimed"


async def test_own_envelopes_are_taken_back_only_with_own_keys(
        tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory) as c:
        city = c.rt("150600")
        mine = seal(signer=city.signer, origin="150600", type="ledger.entry",
                    recipient="150600", scope="ancestors",
                    body={**example("ledger.entry"), "receiver": "150600",
                          "filer": "150603"})
        fake = Signer.generate()
        forged = seal(signer=fake, origin="150600", type="ledger.entry", recipient="150600",
                      scope="ancestors", body={**example("ledger.entry"),
                                               "receiver": "150600", "filer": "150603"})
        swapped = {**forged, "key_id": city.signer.key_id}
        async with c.client("150600") as http:
            r = await http.post("/sync/v1/envelopes",
                                json={"envelopes": [forged, swapped, mine, mine]})
        res = r.json()["results"]
        assert [x["status"] for x in res] == ["rejected", "rejected", "accepted", "duplicate"]
        assert [x["error"]["code"] for x in res[:2]] == ["unknown_key", "bad_signature"]
        async with city.sessions() as s:
            assert await s.get(EnvelopeRecord, forged["id"]) is None
            rec = await s.get(EnvelopeRecord, mine["id"])
            assert rec is not None and rec.reclaimed and not rec.local
            # neither applied nor relayed
            assert not (await s.scalars(select(OutboxRow).where(
                OutboxRow.envelope_id == mine["id"]))).all()
        # answering that filing again sends the same envelope, not a second one
        from node.protocol.outbox import emit

        async with transaction(city.sessions) as s:
            again = await emit(s, city, type="ledger.entry", recipient="150600",
                               scope="ancestors", body=mine["body"])
        assert again["id"] == mine["id"]
        async with city.sessions() as s:
            rec = await s.get(EnvelopeRecord, mine["id"])
            assert rec is not None and not rec.reclaimed  # used once
            rows = (await s.scalars(select(OutboxRow.target_code).where(
                OutboxRow.envelope_id == mine["id"]))).all()
        assert rows == ["150000"]
        await c.settle()
        async with c.rt("150000").sessions() as s:
            assert await s.get(EnvelopeRecord, mine["id"]) is not None


async def test_a_restored_node_catches_up_with_its_parent_before_it_takes_pushes(
        tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory) as c:
        city = c.rt("150600")
        async with transaction(city.sessions) as s:
            await renew_epoch(s, "150600")
        assert (await _me(c, "150600")).resync_since is not None
        report = await send(c, "150603", "report.filing", "150603", "ancestors")
        async with c.client("150600") as http:
            r = await http.post("/sync/v1/envelopes", json={"envelopes": [report]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "resyncing"
        async with city.sessions() as s:
            assert await s.get(EnvelopeRecord, report["id"]) is None
        await pull_parent(city, c.registry("150600"))  # read the province's feed to the end
        assert (await _me(c, "150600")).resync_since is None
        async with c.client("150600") as http:
            r = await http.post("/sync/v1/envelopes", json={"envelopes": [report]})
        assert r.json()["results"][0]["status"] == "accepted"
        # a province (no parent) never waits
        async with transaction(c.rt("150000").sessions) as s:
            await renew_epoch(s, "150000")
        assert (await _me(c, "150000")).resync_since is None
