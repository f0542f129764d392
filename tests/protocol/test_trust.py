"""Issue #10: a malicious node tries to forge, squat, impersonate, reuse a retired key, break the
routing rules and smuggle ambiguous JSON. Each attack goes through the real protocol path
(province → city → two counties, nodes talking HTTP through ASGI), on SQLite and PostgreSQL,
and must be refused with its typed code while nothing changes at any node."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

import sync
from node.db import transaction
from node.models import EnvelopeRecord, Framework, LedgerEntry, NodeKey, OutboxRow
from node.protocol.enrol import create_invite, proof_bytes
from node.protocol.keys import rotate_key
from node.protocol.keytrust import check_ancestors, confirm_recovery, pending_recoveries
from sync import Signer, seal, utcnow
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.protocol_helpers import counts, example, send

NODES = ("150000", "150600", "150603", "150602")


async def snapshot(c: Cluster) -> dict[str, tuple[int, int, int, int]]:
    """Envelopes, outbox rows, audit entries and ledger rows at every node."""
    out = {}
    for code in NODES:
        async with c.rt(code).sessions() as s:
            ledger = await s.scalar(select(func.count()).select_from(LedgerEntry)) or 0
        out[code] = (*await counts(c, code), ledger)
    return out


async def post(c: Cluster, at: str, *envs: dict[str, Any]) -> list[dict[str, Any]]:
    async with c.client(at) as cl:
        r = await cl.post("/sync/v1/envelopes", json={"envelopes": list(envs)})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def codes(results: list[dict[str, Any]]) -> list[str]:
    return [r["error"]["code"] if r["status"] == "rejected" else r["status"] for r in results]


async def test_a_county_cannot_forge_another_offices_timeliness(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603").signer
        on_time = {**example("ledger.entry"), "filer": "150602", "receiver": "150600",
                   "timeliness": "on_time", "late_days": 0}
        as_the_city = seal(signer=county, origin="150603", type="ledger.entry",
                           recipient="150603", scope="ancestors", body=on_time)
        about_a_sibling = seal(signer=county, origin="150603", type="ledger.entry",
                               recipient="150603", scope="ancestors",
                               body={**on_time, "receiver": "150603"})
        before = await snapshot(c)
        assert codes(await post(c, "150600", as_the_city, about_a_sibling)) == \
            ["origin_mismatch", "origin_mismatch"]
        await c.settle()
        assert await snapshot(c) == before
        # the city's own ledger entry about its county is what the province keeps
        ok = await send(c, "150600", "ledger.entry", "150600", "ancestors",
                        {**on_time, "filer": "150603"})
        await c.settle()
        async with c.rt("150000").sessions() as s:
            assert await s.get(LedgerEntry, ok["id"]) is not None


async def test_no_node_may_announce_a_code_the_division_tree_does_not_give_it(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        squatter = Signer.generate()
        body = {"code": "150102", "name": "新城区", "level": "county", "parent": "150603",
                "public_key": squatter.public_key, "key_id": squatter.key_id}
        by_county = seal(signer=c.rt("150603").signer, origin="150603", type="node.enrolled",
                         recipient="150603", scope="ancestors", body=body)
        by_city = seal(signer=c.rt("150600").signer, origin="150600", type="node.enrolled",
                       recipient="150600", scope="ancestors", body={**body, "parent": "150600"})
        wrong_level = seal(signer=c.rt("150600").signer, origin="150600", type="node.enrolled",
                           recipient="150600", scope="ancestors",
                           body={**body, "code": "150603", "level": "city",
                                 "parent": "150600"})
        before = await snapshot(c)
        assert codes(await post(c, "150600", by_county)) == ["division_mismatch"]
        assert codes(await post(c, "150000", by_city, wrong_level)) == \
            ["division_mismatch", "division_mismatch"]
        assert await snapshot(c) == before
        # a parent cannot invite such a code, nor enrol it even with an invite in its table
        from node.errors import BadRequest
        from node.models import Invite
        from node.protocol.enrol import _h

        with pytest.raises(BadRequest) as refused:
            async with transaction(c.rt("150600").sessions) as s:
                await create_invite(session=s, code="150102", name="新城区", actor="t",
                                    ttl=timedelta(hours=1))
        assert refused.value.code == "division_mismatch"
        token = "psi_planted_by_hand"
        async with transaction(c.rt("150600").sessions) as s:
            s.add(Invite(code="150102", name="新城区", token_hash=_h(token), created_by="t",
                         created_at=utcnow(), expires_at=utcnow() + timedelta(hours=1)))
        payload = {"token": token, "code": "150102", "name": "新城区", "level": "county",
                   "base_url": "http://x.test", "public_key": squatter.public_key,
                   "proof": squatter.sign(proof_bytes(token, "150102", squatter.public_key))}
        async with c.client("150600") as cl:
            r = await cl.post("/sync/v1/enroll", json=payload)
        assert r.status_code == 400 and r.json()["error"]["code"] == "division_mismatch"


async def test_a_city_cannot_replace_a_countys_key_and_recovery_needs_every_admin(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        city = c.rt("150600").signer
        fake = Signer.generate()
        reannounce = seal(signer=city, origin="150600", type="node.enrolled",
                          recipient="150600", scope="ancestors",
                          body={"code": "150603", "name": "康巴什区", "level": "county",
                                "parent": "150600", "public_key": fake.public_key,
                                "key_id": fake.key_id})
        forged_report = seal(signer=fake, origin="150603", type="report.filing",
                             recipient="150603", scope="ancestors",
                             body=example("report.filing", "150603"))
        before = await snapshot(c)
        assert codes(await post(c, "150000", reannounce, forged_report)) == \
            ["key_conflict", "unknown_key"]
        assert await snapshot(c) == before
        # the county checks its ancestors: all hold its key
        state = await check_ancestors(c.rt("150603"))
        assert state["status"] == "ok", state
        # a recovery announcement is held as pending: it verifies nothing until confirmed
        recovered = seal(signer=city, origin="150600", type="node.enrolled",
                         recipient="150600", scope="ancestors",
                         body={**reannounce["body"], "recovery": True})
        assert codes(await post(c, "150000", recovered)) == ["accepted"]
        assert codes(await post(c, "150000", forged_report)) == ["unknown_key"]
        prov = c.rt("150000")
        async with prov.sessions() as s:
            pending = await pending_recoveries(s)
        assert [(p["code"], p["key_id"]) for p in pending] == [("150603", fake.key_id)]
        await confirm_recovery(prov, code="150603", key_id=fake.key_id, actor="admin")
        assert codes(await post(c, "150000", forged_report)) == ["accepted"]
        # ...and the real county finds out: the province no longer holds its key
        state = await check_ancestors(c.rt("150603"))
        assert state["status"] == "alarm"
        assert state["ancestors"] == {"150600": "ok",
                                      "150000": "does not hold this node's key"}
        async with c.client("150603") as cl:
            ready = (await cl.get("/readyz")).json()
            metrics = (await cl.get("/metrics")).text
        assert ready["alarms"]["key_transparency"]["status"] == "alarm"
        assert 'plansync_key_transparency_alarm{ancestor="150000"} 1.0' in metrics


async def test_a_retired_key_never_signs_again(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603")
        old = county.signer
        _, new_id = await rotate_key(county)
        await c.settle()
        attacker = Signer.generate()
        backdated = utcnow().replace(year=2024)
        take_back = seal(signer=old, origin="150603", type="key.rotation", recipient="150603",
                         scope="ancestors", created_at=backdated,
                         body={"node": "150603", "previous_key_id": old.key_id,
                               "key_id": attacker.key_id, "public_key": attacker.public_key,
                               "rotated_at": sync.format_ts(backdated)})
        old_report = seal(signer=old, origin="150603", type="report.filing",
                          recipient="150603", scope="ancestors", created_at=backdated,
                          body=example("report.filing", "150603"))
        # a rotation by the current key may not be backdated either
        stale = seal(signer=county.signer, origin="150603", type="key.rotation",
                     recipient="150603", scope="ancestors",
                     body={"node": "150603", "previous_key_id": county.signer.key_id,
                           "key_id": attacker.key_id, "public_key": attacker.public_key,
                           "rotated_at": sync.format_ts(backdated)})
        before = await snapshot(c)
        assert codes(await post(c, "150600", take_back, old_report, stale)) == \
            ["key_retired", "key_retired", "stale_rotation"]
        assert await snapshot(c) == before
        for code in ("150600", "150000"):
            async with c.rt(code).sessions() as s:
                assert await s.get(NodeKey, ("150603", attacker.key_id)) is None
                current = (await s.scalars(select(NodeKey.key_id).where(
                    NodeKey.code == "150603", NodeKey.valid_until.is_(None)))).all()
            assert list(current) == [new_id], code


async def test_routing_and_filing_rules_cannot_be_bypassed(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603").signer
        sibling_filing = await send(c, "150602", "plan.filing", "150600")
        await c.settle()
        mine = example("plan.filing", "150603")
        to_sibling = seal(signer=county, origin="150603", type="plan.filing",
                          recipient="150602", body=mine)
        past_the_city = seal(signer=county, origin="150603", type="plan.filing",
                             recipient="150000", body=mine)
        under_sibling_id = seal(signer=county, origin="150603", type="plan.filing",
                                recipient="150600", body=example("plan.filing", "150602"))
        refiles_sibling = seal(signer=county, origin="150603", type="plan.filing",
                               recipient="150600",
                               body={**mine, "refiling_of": sibling_filing["id"]})
        report_to_sibling = seal(signer=county, origin="150603", type="report.filing",
                                 recipient="150602", scope="subtree",
                                 body=example("report.filing", "150603"))
        receipt_to_cousin = seal(signer=c.rt("150600").signer, origin="150600",
                                 type="filing.receipt", recipient="150603",
                                 body=example("filing.receipt", "150600", "150602"))
        before = await snapshot(c)
        assert codes(await post(c, "150600", to_sibling, past_the_city, under_sibling_id,
                                refiles_sibling, report_to_sibling)) == \
            ["wrong_route", "wrong_route", "origin_mismatch", "origin_mismatch",
             "wrong_route"]
        assert codes(await post(c, "150603", receipt_to_cousin)) == ["origin_mismatch"]
        await c.settle()
        assert await snapshot(c) == before


async def test_one_bad_envelope_does_not_hold_up_its_batch(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        city = c.rt("150600").signer
        good = [seal(signer=city, origin="150600", type="ledger.entry", recipient="150600",
                     scope="ancestors", body={**example("ledger.entry", "150600"),
                                              "filing_id": sync.new_id()}) for _ in range(2)]
        too_long = seal(signer=c.rt("150603").signer, origin="150603", type="plan.filing",
                        recipient="150600", body={**example("plan.filing", "150603"),
                                                  "refiling_of": "x" * 5000})
        assert codes(await post(c, "150000", good[0], too_long, good[1]))[::2] == \
            ["accepted", "accepted"]
        r = await post(c, "150600", too_long)
        assert r[0]["error"]["code"] == "schema_violation"
        assert r[0]["error"]["pointer"] == "/body/refiling_of"


async def test_framework_versions_never_go_backwards(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        for v in (3, 2):  # the older version arrives last
            await send(c, "150000", "framework.release", "150000", "subtree",
                       {**example("framework.release"), "version": v})
            await c.settle()
        for code in ("150600", "150603"):
            async with c.rt(code).sessions() as s:
                rows = {f.version: f.current for f in (await s.scalars(select(Framework)))}
            assert rows == {3: True, 2: False}, code


BAD_JSON = [
    b'{"envelopes": [NaN]}', b'{"envelopes": [Infinity]}', b'{"envelopes": [1e400]}',
    b'{"envelopes": [9007199254740993]}', b'{"envelopes": [' + b"9" * 5000 + b"]}",
    b'{"envelopes": ["\\ud800"]}', b'{"envelopes": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"envelopes": [], "envelopes": []}', b'{"envelopes": ["a\\u0000b"]}',
    b'\xff\xfe', b"",
]


async def test_ambiguous_or_hostile_json_is_refused_before_anything(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory) as c:
        good = seal(signer=c.rt("150603").signer, origin="150603", type="plan.filing",
                    recipient="150600", body=example("plan.filing", "150603"))
        text = json.dumps({"envelopes": [good]}, ensure_ascii=False)
        dup_origin = text.replace('"origin": "150603"', '"origin": "150603", "origin": "150602"')
        dup_year = text.replace('"version": 1', '"version": 1, "version": 2')
        assert dup_origin != text and dup_year != text
        overflow = seal(signer=c.rt("150603").signer, origin="150603", type="plan.filing",
                        recipient="150600", body=example("plan.filing", "150603"))
        overflow["created_at"] = "0001-01-01T00:00:00+23:59"
        before = await snapshot(c)
        async with c.client("150600") as cl:
            for raw in [*BAD_JSON, dup_origin.encode(), dup_year.encode()]:
                r = await cl.post("/sync/v1/envelopes", content=raw,
                                  headers={"content-type": "application/json"})
                assert r.status_code == 400, (raw[:60], r.text)
                assert r.json()["error"]["code"] == "malformed_json", raw[:60]
            (res,) = (await cl.post("/sync/v1/envelopes", json={"envelopes": [overflow]})
                      ).json()["results"]
            assert res["error"]["code"] in ("invalid_envelope", "bad_signature"), res
            # the same bad number in an envelope whose id is already stored
            assert codes(await post(c, "150600", good)) == ["accepted"]
            before = await snapshot(c)
            r = await cl.post("/sync/v1/envelopes", content=text.replace(
                '"version": 1', '"version": 1e400').encode(),
                headers={"content-type": "application/json"})
            assert r.status_code == 400
        assert await snapshot(c) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)


async def test_fuzz_the_envelope_endpoint(tmp_path: Path) -> None:
    """Hypothesis: random JSON-ish bodies and mutated envelopes never give a 5xx and never
    store anything (the PostgreSQL run of the attack tests above covers the database side)."""
    dbs = iter(range(1000))

    async def make() -> str:
        return f"sqlite+aiosqlite:///{tmp_path / f'f{next(dbs)}.sqlite'}"

    async with cluster(tmp_path, make) as c:
        good = seal(signer=c.rt("150603").signer, origin="150603", type="plan.filing",
                    recipient="150600", body=example("plan.filing", "150603"))
        before = await snapshot(c)
        async with c.client("150600") as cl:
            cases: list[bytes] = []

            @settings(max_examples=150, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(st.one_of(
                json_values.map(lambda v: {"envelopes": [v]}),
                json_values,
                st.dictionaries(st.sampled_from(sorted(good)), json_values, min_size=1,
                                max_size=4)
                .filter(lambda patch: any(good[k] != v for k, v in patch.items()))
                .map(lambda patch: {"envelopes": [{**good, **patch}]}),
                st.binary(max_size=64),
            ))
            def case(doc: Any) -> None:
                raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                cases.append(raw)

            case()  # hypothesis generates; the requests run on this event loop
            for raw in cases:
                r = await cl.post("/sync/v1/envelopes", content=raw,
                                  headers={"content-type": "application/json"})
                assert r.status_code < 500, (raw[:200], r.text)
                if r.status_code == 200:
                    assert all(x["status"] == "rejected" for x in r.json()["results"]), raw
        assert await snapshot(c) == before


async def test_out_of_range_values_are_typed_errors(tmp_path: Path, db_factory: DbFactory
                                                    ) -> None:
    """A date no calendar arithmetic can use, a cursor beyond 64 bits: typed 4xx, no 500."""
    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603")
        far = seal(signer=county.signer, origin="150603", type="plan.filing",
                   recipient="150600", body={**example("plan.filing", "150603"),
                                             "released_on": "9999-12-31"})
        good = seal(signer=county.signer, origin="150603", type="plan.filing",
                    recipient="150600", body=example("plan.filing", "150603"))
        before = await snapshot(c)
        r = await post(c, "150600", far, good)
        assert codes(r) == ["schema_violation", "accepted"]
        assert r[0]["error"]["pointer"] == "/body/released_on"
        target = "/sync/v1/feed?after=99999999999999999999"
        hdrs = sync.sign_request(county.signer, "150603", "GET", target)
        async with c.client("150600") as cl:
            resp = await cl.get(target, headers=hdrs)
        assert resp.status_code == 400, resp.text
        assert "error" in resp.json()
        after = await snapshot(c)
        assert after["150000"] == before["150000"]


async def _admin(c: Cluster, code: str) -> str:
    from node.auth.service import create_user, issue_token

    async with transaction(c.rt(code).sessions) as s:
        user = await create_user(session=s, name=f"admin{code}", role="admin",
                                 password="correct horse", actor="test")
        return await issue_token(session=s, user=user, label="t", actor="test")


async def test_a_lost_key_is_recovered_with_every_ancestors_confirmation(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    """The county loses its key. Its city's admin issues a recovery invite (the city's
    confirmation), the county enrols again with a new key; the province holds it pending —
    the county's filings wait — until the province's admin confirms it through the API."""
    from node.protocol.enrol import enroll_with_parent

    async with cluster(tmp_path, db_factory) as c:
        county = c.rt("150603")
        lost = county.signer.key_id
        city_admin, prov_admin = await _admin(c, "150600"), await _admin(c, "150000")
        async with c.client("150600", city_admin) as cl:
            plain = (await cl.post("/api/v1/children/invites",
                                   json={"code": "150603", "name": "康巴什区"})).json()["token"]
            recovery = (await cl.post("/api/v1/children/invites",
                                      json={"code": "150603", "name": "康巴什区",
                                            "recovery": True})).json()["token"]
        Signer.generate().save(county.cfg.key_path)  # the old private key is gone
        new = county.signer.key_id
        assert new != lost
        with pytest.raises(sync.PeerRejected) as e:  # an ordinary invite cannot replace it
            await enroll_with_parent(county, plain)
        assert e.value.code == "key_conflict"
        await enroll_with_parent(county, recovery)
        await c.settle()
        report = await send(c, "150603", "report.filing", "150603", "ancestors")
        await c.settle()
        async with c.rt("150600").sessions() as s:
            keys = {k.key_id: k.valid_until for k in (await s.scalars(
                select(NodeKey).where(NodeKey.code == "150603")))}
        assert keys[new] is None and keys[lost] is not None  # the city switched at once
        async with c.rt("150000").sessions() as s:
            assert await s.get(EnvelopeRecord, report["id"]) is None  # waits at the province
        async with c.client("150000", prov_admin) as cl:
            pending = (await cl.get("/api/v1/keys/recoveries")).json()
            assert [(p["code"], p["key_id"]) for p in pending] == [("150603", new)]
            r = await cl.post(f"/api/v1/keys/recoveries/150603/{new}/confirm")
            assert r.status_code == 200, r.text
            again = await cl.post(f"/api/v1/keys/recoveries/150603/{new}/confirm")
            assert again.status_code == 409
        async with transaction(c.rt("150600").sessions) as s:  # the relay's retry comes due
            await s.execute(update(OutboxRow).values(next_attempt_at=utcnow()))
        await c.settle()
        async with c.rt("150000").sessions() as s:
            assert await s.get(EnvelopeRecord, report["id"]) is not None
        state = await check_ancestors(county)
        assert state["status"] == "ok", state


async def test_a_key_id_must_be_the_id_of_its_public_key(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    """A city announcing a new county with the county's real key id but a public key of its
    own would pass the key-transparency check (ids compared) while it signs as the county."""
    async with cluster(tmp_path, db_factory) as c:
        city, real = c.rt("150600").signer, Signer.generate()
        fake = Signer.generate()
        swapped = seal(signer=city, origin="150600", type="node.enrolled", recipient="150600",
                       scope="ancestors",
                       body={"code": "150621", "name": "达拉特旗", "level": "county",
                             "parent": "150600", "public_key": fake.public_key,
                             "key_id": real.key_id})
        rotation = seal(signer=city, origin="150600", type="key.rotation", recipient="150600",
                        scope="ancestors",
                        body={"node": "150600", "previous_key_id": city.key_id,
                              "key_id": real.key_id, "public_key": fake.public_key,
                              "rotated_at": sync.format_ts(utcnow())})
        before = await snapshot(c)
        r = await post(c, "150000", swapped, rotation)
        assert codes(r) == ["origin_mismatch", "origin_mismatch"]
        assert r[0]["error"]["pointer"] == "/body/key_id"
        assert await snapshot(c) == before


async def test_a_refiling_cannot_borrow_another_filings_due_date(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from node.models import ReceivedReport

    async with cluster(tmp_path, db_factory) as c:
        late_one = await send(c, "150603", "report.filing", "150603", "ancestors",
                              {**example("report.filing", "150603"), "year": 2030,
                               "report_id": "150603-women-2030"})
        await c.settle()
        borrowed = await send(c, "150603", "report.filing", "150603", "ancestors",
                              {**example("report.filing", "150603"), "year": 2021,
                               "report_id": "150603-women-2021",
                               "refiling_of": late_one["id"]})
        await c.settle()
        async with c.rt("150600").sessions() as s:
            row = await s.get(ReceivedReport, borrowed["id"])
            first = await s.get(ReceivedReport, late_one["id"])
        assert row is not None and first is not None
        assert row.due_on.year == 2022 and row.due_on != first.due_on
        assert row.late_days > 300
        # a plan "released" after the day it is received cannot push its due date out
        future = seal(signer=c.rt("150603").signer, origin="150603", type="plan.filing",
                      recipient="150600", body={**example("plan.filing", "150603"),
                                                "released_on": "2029-12-31"})
        r = await post(c, "150600", future)
        assert codes(r) == ["schema_violation"]
        assert r[0]["error"]["pointer"] == "/body/released_on"


async def test_a_child_enrolled_after_a_rotation_still_gets_the_old_releases(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from tests.cluster import make_node_config

    async with cluster(tmp_path, db_factory) as c:
        await send(c, "150000", "framework.release", "150000", "subtree")
        await c.settle()
        await rotate_key(c.rt("150000"))
        await c.settle()
        cfg = await make_node_config(tmp_path, "150621", "达拉特旗", "county", "150600",
                                     await db_factory())
        await c.start(cfg)
        await c.enrol("150600", "150621")
        await c.settle()
        async with c.rt("150621").sessions() as s:
            got = (await s.scalars(select(Framework.version))).all()
        assert list(got) == [2]  # the example release, signed by the now retired key
        async with c.rt("150600").sessions() as s:
            dead = (await s.scalars(select(OutboxRow).where(OutboxRow.status == "dead"))).all()
        assert dead == []


async def test_only_a_child_may_ask_for_attestations_and_only_about_its_subtree(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    """Anonymous callers would make every ancestor sign and call its parent for them, and
    learn which codes are enrolled; a child may not ask about its sibling either."""
    async with cluster(tmp_path, db_factory) as c:
        def signed(code: str, subject: str) -> dict[str, Any]:
            body = json.dumps({"subject": subject, "nonce": "n" * 24}).encode()
            return {"content": body, "headers": {
                **sync.sign_request(c.rt(code).signer, code, "POST", "/sync/v1/attest", body),
                "content-type": "application/json"}}

        async with c.client("150600") as cl:
            r = await cl.post("/sync/v1/attest", json={"subject": "150603", "nonce": "n" * 24})
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated_node"
            r = await cl.post("/sync/v1/attest", **signed("150603", "150602"))
            assert r.status_code == 400 and r.json()["error"]["code"] == "wrong_recipient"
            r = await cl.post("/sync/v1/attest", **signed("150603", "150603"))
            assert r.status_code == 200
            assert [a["attester"] for a in r.json()["attestations"]] == ["150600", "150000"]
        async with c.client("150000") as cl:  # a grandchild is no child of the province
            r = await cl.post("/sync/v1/attest", **signed("150603", "150603"))
            assert r.status_code == 401
