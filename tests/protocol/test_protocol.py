"""Protocol v1 between nodes in one process (httpx.ASGITransport), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

import sync
from node.db import transaction
from node.delivery.pull import pull_parent
from node.models import KnownNode, NodeKey, OutboxRow
from sync import Signer, seal, utcnow
from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.protocol_helpers import (
    counts,
    example,
    receive_audits,
    received_from,
    record,
    send,
)


async def test_enrolment_gives_ancestor_keys_and_tells_ancestors(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603")
        async with county.sessions() as s:
            keys = {(k.code, k.key_id) for k in (await s.scalars(select(NodeKey))).all()}
            parent = await s.get(KnownNode, "150600")
        assert ("150000", c.rt("150000").signer.key_id) in keys
        assert ("150600", c.rt("150600").signer.key_id) in keys
        assert parent is not None and parent.relation == "parent"
        # the province learned both counties (and their keys) through the city's node.enrolled
        async with c.rt("150000").sessions() as s:
            n = await s.get(KnownNode, "150603")
            k = await s.get(NodeKey, ("150603", county.signer.key_id))
        assert n is not None and n.relation == "descendant" and n.parent_code == "150600"
        assert k is not None


async def test_relay_down_keeps_the_provinces_signature(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        env = await send(c, "150000", "framework.release", "150000", "subtree")
        await c.settle()
        prov_key = c.rt("150000").signer.public_key
        for code in ("150600", "150603", "150602"):
            rec = await record(c, code, env["id"])
            assert rec is not None and rec.local, code
            assert sync.canonical(rec.raw) == sync.canonical(env)  # unchanged by the relay
            assert sync.verify_signature(prov_key, rec.raw["signature"],
                                         sync.signing_bytes(rec.raw))


async def test_push_up_relay_and_ledger_to_every_ancestor(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        filing = await send(c, "150603", "plan.filing", "150600")
        report = await send(c, "150603", "report.filing", "150603", "ancestors")
        ledger = await send(c, "150600", "ledger.entry", "150600", "ancestors")
        await c.settle()
        rec = await record(c, "150600", filing["id"])
        assert rec is not None and rec.local
        assert await record(c, "150000", filing["id"]) is None
        for code in ("150600", "150000"):  # relayed unchanged through the city
            rep = await record(c, code, report["id"])
            assert rep is not None and rep.local and rep.raw == report
        led = await record(c, "150000", ledger["id"])
        assert led is not None and led.local and led.raw == ledger


async def test_attacks_are_rejected_with_codes_and_change_nothing(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county, sibling = c.rt("150603").signer, c.rt("150602").signer
        good = seal(signer=county, origin="150603", type="plan.filing", recipient="150600",
                    body=example("plan.filing"))
        tampered_body = {**good, "body": {**good["body"], "version": 2}}
        sig = good["signature"]
        tampered_sig = {**good, "signature": ("B" if sig[0] != "B" else "C") + sig[1:]}
        stranger = Signer.generate()
        unknown_key = seal(signer=stranger, origin="150603", type="plan.filing",
                           recipient="150600", body=example("plan.filing"))
        impersonation = seal(signer=sibling, origin="150603", type="plan.filing",
                             recipient="150600", body=example("plan.filing"))
        impersonation["key_id"] = county.key_id
        impersonation["signature"] = sibling.sign(sync.signing_bytes(impersonation))
        framework_from_county = seal(signer=county, origin="150603", type="framework.release",
                                     recipient="150600", body=example("framework.release"))
        wrong_recipient = seal(signer=county, origin="150603", type="plan.filing",
                               recipient="150100", body=example("plan.filing"))
        big = example("plan.filing")
        big["document"] = {"text": "字" * 400_000}
        oversized = seal(signer=county, origin="150603", type="plan.filing", recipient="150600",
                         body=big)
        future = seal(signer=county, origin="150603", type="plan.filing", recipient="150600",
                      body=example("plan.filing"), created_at=utcnow() + timedelta(hours=1))
        unknown_type = seal(signer=county, origin="150603", type="plan.deletion",
                            recipient="150600", body={})
        bad_schema_body = example("plan.filing")
        bad_schema_body["kind"] = "men"
        bad_schema = seal(signer=county, origin="150603", type="plan.filing",
                          recipient="150600", body=bad_schema_body)
        unknown_origin = seal(signer=stranger, origin="150699", type="plan.filing",
                              recipient="150600", body=example("plan.filing"))
        not_envelope = {"hello": "world"}
        cases = [
            (tampered_body, "bad_signature"), (tampered_sig, "bad_signature"),
            (unknown_key, "unknown_key"), (impersonation, "bad_signature"),
            (framework_from_county, "wrong_direction"), (wrong_recipient, "wrong_recipient"),
            (oversized, "body_too_large"), (future, "future_timestamp"),
            (unknown_type, "unknown_type"), (bad_schema, "schema_violation"),
            (unknown_origin, "unknown_origin"), (not_envelope, "invalid_envelope"),
        ]
        before = await counts(c, "150600")
        async with c.client("150600") as cl:
            for doc, code in cases:
                r = await cl.post("/sync/v1/envelopes", json={"envelopes": [doc]})
                assert r.status_code == 200, r.text
                (res,) = r.json()["results"]
                assert res["status"] == "rejected", (code, res)
                assert res["error"]["code"] == code, (code, res)
            r = await cl.post("/sync/v1/envelopes", json={"envelopes": [bad_schema]})
            assert r.json()["results"][0]["error"]["pointer"] == "/body/kind"
            assert await counts(c, "150600") == before
            # malformed JSON and oversized requests: typed errors, nothing stored
            r = await cl.post("/sync/v1/envelopes", content=b"{not json",
                              headers={"content-type": "application/json"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
            r = await cl.post("/sync/v1/envelopes", json={"envelopes": [good] * 501})
            assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
            assert await counts(c, "150600") == before
            # accepted once; replay gives the same receipt and no second effect
            r1 = (await cl.post("/sync/v1/envelopes", json={"envelopes": [good]})).json()
            r2 = (await cl.post("/sync/v1/envelopes", json={"envelopes": [good, good]})).json()
            assert r1["results"][0]["status"] == "accepted"
            assert [x["status"] for x in r2["results"]] == ["duplicate", "duplicate"]
            assert r2["results"][0]["received_at"] == r1["results"][0]["received_at"]
            after_one = await counts(c, "150600")
            # audited once (the receipt, and the filing's automatic check); duplicates add none
            # audited once: the receipt, the filing's automatic check and the rows.seal of
            # what they stored; duplicates add none
            assert after_one[2] == before[2] + 3
            assert (await receive_audits(c, "150600"))[-1] == ("protocol:push", [good["id"]])
            assert await received_from(c, "150600", "150603") == 1
            # same id, different (validly signed) content
            other = example("plan.filing")
            other["version"] = 9
            conflict = seal(signer=county, origin="150603", type="plan.filing",
                            recipient="150600", body=other, id=good["id"])
            r = (await cl.post("/sync/v1/envelopes", json={"envelopes": [conflict]})).json()
            assert r["results"][0]["error"]["code"] == "id_conflict"
            assert await counts(c, "150600") == after_one
            metrics = (await cl.get("/metrics")).text
            assert 'plansync_envelopes_rejected_total{code="bad_signature"} 3.0' in metrics


async def test_enrolment_token_errors(tmp_path: Path, db_factory: DbFactory) -> None:
    from node.models import Invite
    from node.protocol.enrol import create_invite, enroll_with_parent

    tree = [("150000", "内蒙古自治区", "province", None),
            ("150600", "鄂尔多斯市", "city", "150000"),
            ("150100", "呼和浩特市", "city", "150000")]
    async with cluster(tmp_path, db_factory, tree, enrol=False) as c:
        prov = c.rt("150000")

        async def invite(code: str, ttl: timedelta = timedelta(hours=1)) -> str:
            async with transaction(prov.sessions) as s:
                return await create_invite(session=s, code=code, name="x", actor="t", ttl=ttl)

        async def code_of(coro) -> str:  # type: ignore[no-untyped-def]
            try:
                await coro
            except sync.PeerRejected as e:
                return e.code
            return "accepted"

        assert await code_of(enroll_with_parent(c.rt("150600"), "psi_made_up")) == \
            "token_invalid"
        expired = await invite("150600", ttl=timedelta(hours=1))
        async with transaction(prov.sessions) as s:
            await s.execute(update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert await code_of(enroll_with_parent(c.rt("150600"), expired)) == "token_expired"
        tok = await invite("150600")
        assert await code_of(enroll_with_parent(c.rt("150100"), tok)) == "enrol_mismatch"
        assert await code_of(enroll_with_parent(c.rt("150600"), tok)) == "accepted"
        assert await code_of(enroll_with_parent(c.rt("150600"), tok)) == "token_used"
        async with prov.sessions() as s:
            children = (await s.scalars(select(KnownNode.code).where(
                KnownNode.relation == "child"))).all()
        assert children == ["150600"]


async def test_lost_response_then_retry_gives_exactly_one_effect(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        c.transport.lose_response.add("n150600.test")
        env = await send(c, "150603", "plan.filing", "150600")
        await c.rt("150603").dispatcher.run_once()  # type: ignore[union-attr]
        assert await record(c, "150600", env["id"]) is not None  # the city got it...
        async with c.rt("150603").sessions() as s:
            row = await s.scalar(select(OutboxRow).where(OutboxRow.envelope_id == env["id"]))
        assert row is not None and row.status == "pending" and row.attempts == 1  # ...unconfirmed
        c.transport.lose_response.clear()
        async with transaction(c.rt("150603").sessions) as s:
            await s.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        await c.settle()
        async with c.rt("150603").sessions() as s:
            row = await s.scalar(select(OutboxRow).where(OutboxRow.envelope_id == env["id"]))
        assert row is not None and row.status == "delivered"
        assert await received_from(c, "150600", "150603") == 1
        await c.settle()
        assert await received_from(c, "150600", "150603") == 1


async def test_offline_child_catches_up_from_the_feed(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        c.transport.offline.add("n150603.test")
        sent = []
        for v in range(1, 6):
            body = example("framework.release")
            body["version"] = v
            sent.append(await send(c, "150000", "framework.release", "150000", "subtree", body))
        await c.settle(["150000"])
        await c.rt("150600").dispatcher.run_once()  # type: ignore[union-attr]
        assert await record(c, "150602", sent[-1]["id"]) is not None
        assert await record(c, "150603", sent[0]["id"]) is None
        c.transport.offline.clear()
        # the county pulls before the city's retry is due
        assert await pull_parent(c.rt("150603"), c.registry("150603"), limit=2) == 5
        pulled = [ids for actor, ids in await receive_audits(c, "150603")
                  if actor == "protocol:feed:150600"]
        assert [len(ids) for ids in pulled] == [2, 2, 1]  # one audit entry per feed page
        assert [i for ids in pulled for i in ids] == [e["id"] for e in sent]
        for env in sent:
            rec = await record(c, "150603", env["id"])
            assert rec is not None and rec.raw == env
        n = await counts(c, "150603")
        async with transaction(c.rt("150600").sessions) as s:
            await s.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        await c.settle()  # the city's pushes now arrive as duplicates
        assert await counts(c, "150603") == n
        async with c.rt("150603").sessions() as s:
            parent = await s.get(KnownNode, "150600")
        assert parent is not None and parent.feed_cursor > 0
        assert await pull_parent(c.rt("150603"), c.registry("150603")) == 0  # nothing repeated


async def test_feed_requires_a_childs_request_signature(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c, c.client("150600") as cl:
        r = await cl.get("/sync/v1/feed?after=0")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated_node"
        prov = c.rt("150000")  # an ancestor is not a child: no feed for it
        hdrs = sync.sign_request(prov.signer, "150000", "GET", "/sync/v1/feed?after=0")
        r = await cl.get("/sync/v1/feed?after=0", headers=hdrs)
        assert r.status_code == 401
        county = c.rt("150603")
        hdrs = sync.sign_request(county.signer, "150603", "GET", "/sync/v1/feed?after=0")
        r = await cl.get("/sync/v1/feed?after=0", headers=hdrs)
        assert r.status_code == 200 and r.json()["entries"] == []
        r = await cl.get("/sync/v1/feed?after=0&limit=5", headers=hdrs)  # signed other query
        assert r.status_code == 401


async def test_key_rotation_reaches_parent_and_children(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from node.protocol.keys import rotate_key

    async with cluster(tmp_path, db_factory) as c:
        city = c.rt("150600")
        old_signer = city.signer
        # queued before the rotation, delivered after it: listed in the rotation's carry
        c.transport.offline.add("n150000.test")
        in_transit = await send(c, "150600", "ledger.entry", "150600", "ancestors")
        never_queued = seal(signer=old_signer, origin="150600", type="ledger.entry",
                            recipient="150600", scope="ancestors",
                            body=example("ledger.entry", "150600"))
        old_id, new_id = await rotate_key(city)
        assert city.signer.key_id == new_id != old_id
        c.transport.offline.clear()
        async with transaction(city.sessions) as s:
            await s.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        await c.settle()
        for code in ("150000", "150603", "150602"):
            async with c.rt(code).sessions() as s:
                new = await s.get(NodeKey, ("150600", new_id))
                old = await s.get(NodeKey, ("150600", old_id))
            assert new is not None and new.valid_until is None, code
            assert old is not None and old.valid_until is not None, code
        assert await record(c, "150000", in_transit["id"]) is not None
        async with c.client("150000") as cl:
            # signed by the old key but not listed by the rotation: refused, whatever its date
            r = (await cl.post("/sync/v1/envelopes", json={"envelopes": [never_queued]})).json()
            assert r["results"][0]["error"]["code"] == "key_retired"
            late = seal(signer=old_signer, origin="150600", type="ledger.entry",
                        recipient="150600", scope="ancestors",
                        body=example("ledger.entry", "150600"),
                        created_at=utcnow() - timedelta(days=30))
            r = (await cl.post("/sync/v1/envelopes", json={"envelopes": [late]})).json()
            assert r["results"][0]["error"]["code"] == "key_retired"
        # the new key works end to end, downwards too
        env = await send(c, "150600", "filing.receipt", "150603")
        await c.settle()
        assert await record(c, "150603", env["id"]) is not None



async def test_a_mixed_batch_gets_one_verdict_per_envelope(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    """In one batch, the bad envelopes are rejected and change nothing; the rest are
    accepted, stored and audited in order."""
    async with cluster(tmp_path, db_factory) as c:
        city = c.rt("150600").signer
        batch = [seal(signer=city, origin="150600", type="ledger.entry", recipient="150600",
                      scope="ancestors",
                      body={**example("ledger.entry", "150600"), "filing_id": sync.new_id()})
                 for i in range(20)]
        sig = batch[5]["signature"]
        batch[5] = {**batch[5], "signature": ("B" if sig[0] != "B" else "C") + sig[1:]}
        batch.append(seal(signer=Signer.generate(), origin="150600", type="ledger.entry",
                          recipient="150600", scope="ancestors",
                          body=example("ledger.entry", "150600")))
        before = await counts(c, "150000")
        async with c.client("150000") as cl:
            r = (await cl.post("/sync/v1/envelopes", json={"envelopes": batch})).json()
        assert [x["status"] for x in r["results"]].count("accepted") == len(batch) - 2
        assert len({x["received_at"] for x in r["results"] if "received_at" in x}) == 1
        assert r["results"][5]["error"]["code"] == "bad_signature"
        assert r["results"][-1]["error"]["code"] == "unknown_key"
        after = await counts(c, "150000")
        assert after[0] == before[0] + len(batch) - 2
        ids = (await receive_audits(c, "150000"))[-1][1]
        assert ids == [e["id"] for i, e in enumerate(batch) if i not in (5, len(batch) - 1)]
