"""The outbox on its own: what emit() writes, where it routes, and that delivery is kicked
once after the commit and never for a rolled-back transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from node.db import transaction
from node.models import EnvelopeRecord, OutboxRow
from node.protocol.outbox import carry_hashes, emit
from sync import envelope_hash
from tests.protocol.conftest import Node


def kicked(n: Node) -> set[str]:
    return set(n.rt.dispatcher._kicked)  # type: ignore[union-attr]


async def test_emit_stores_signs_routes_and_kicks_after_commit(node: Node) -> None:
    rt = node.rt
    async with transaction(rt.sessions) as s:
        up = await emit(s, rt, type="ledger.entry", recipient="150600", scope="ancestors",
                        body={"filing_id": "019a8f2c-5b1e-7c3d-9a4b-2f6e8d1c0b7a",
                              "filing_type": "plan.filing", "filer": "150603",
                              "receiver": "150600", "received_at": "2026-11-22T00:00:00.000Z",
                              "outcome": "accepted"})
        down = await emit(s, rt, type="filing.receipt", recipient="150603", scope="node",
                          body={"filing_id": "019a8f2c-5b1e-7c3d-9a4b-2f6e8d1c0b7a",
                                "filer": "150603", "received_at": "2026-11-22T00:00:00.000Z",
                                "outcome": "accepted"})
        assert kicked(node) == set()  # nothing before the commit
    assert kicked(node) == {"150000", "150603"}
    async with rt.sessions() as s:
        rows = {(r.envelope_id, r.target_code, r.direction, r.status)
                for r in (await s.scalars(select(OutboxRow))).all()}
        stored = await s.get(EnvelopeRecord, up["id"])
    assert rows == {(up["id"], "150000", "up", "pending"),
                    (down["id"], "150603", "down", "pending")}
    assert stored is not None and stored.content_hash == envelope_hash(up)
    assert stored.raw == up and not stored.local


async def test_a_rolled_back_transaction_kicks_nothing_and_leaves_nothing(node: Node) -> None:
    rt = node.rt
    with pytest.raises(RuntimeError):
        async with transaction(rt.sessions) as s:
            await emit(s, rt, type="filing.receipt", recipient="150603", scope="node",
                       body={"filing_id": "019a8f2c-5b1e-7c3d-9a4b-2f6e8d1c0b7a",
                             "filer": "150603", "received_at": "2026-11-22T00:00:00.000Z",
                             "outcome": "accepted"})
            raise RuntimeError("the change failed")
    assert kicked(node) == set()
    async with rt.sessions() as s:
        assert (await s.scalars(select(OutboxRow))).all() == []


async def test_carry_lists_what_may_still_arrive_signed_by_the_old_key(node: Node) -> None:
    rt = node.rt
    body = {"filing_id": "019a8f2c-5b1e-7c3d-9a4b-2f6e8d1c0b7a", "filer": "150603",
            "received_at": "2026-11-22T00:00:00.000Z", "outcome": "accepted"}
    async with transaction(rt.sessions) as s:
        delivered = await emit(s, rt, type="filing.receipt", recipient="150603", body=body,
                               scope="node")
        pending = await emit(s, rt, type="filing.receipt", recipient="150603", body=body,
                             scope="node")
        release = await emit(s, rt, type="framework.release", recipient="150600",
                             scope="subtree",
                             body={"framework_id": "150600-women", "kind": "women",
                                   "version": 1, "title": "t", "released_on": "2026-01-01",
                                   "document": {}})
    async with transaction(rt.sessions) as s:
        await s.execute(update(OutboxRow).where(OutboxRow.envelope_id.in_(
            [delivered["id"], release["id"]])).values(status="delivered"))
        carry = await carry_hashes(s, "150600")
    assert carry == sorted({envelope_hash(pending), envelope_hash(release)})


async def test_a_rotation_that_could_not_list_its_carry_is_refused(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More undelivered envelopes than a rotation may list: refused, nothing changes, the
    node keeps signing with its key (so nothing it queued becomes unverifiable)."""
    from node.errors import Conflict
    from node.protocol import keys

    rt = node.rt
    body = {"filing_id": "019a8f2c-5b1e-7c3d-9a4b-2f6e8d1c0b7a", "filer": "150603",
            "received_at": "2026-11-22T00:00:00.000Z", "outcome": "accepted"}
    async with transaction(rt.sessions) as s:
        for _ in range(3):
            await emit(s, rt, type="filing.receipt", recipient="150603", body=body, scope="node")
    monkeypatch.setattr(keys, "MAX_CARRY", 2)
    before = rt.signer.key_id
    with pytest.raises(Conflict, match="outbox"):
        await keys.rotate_key(rt)
    assert rt.signer.key_id == before
    assert not list(rt.cfg.key_path.parent.glob("*.new.pem"))
    async with rt.sessions() as s:
        types = (await s.scalars(select(EnvelopeRecord.type))).all()
    assert "key.rotation" not in types
