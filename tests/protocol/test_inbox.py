"""The inbox on its own: listeners of a registry, several per type, and what a rejection by
one of them leaves behind (nothing); a batch is taken again at most a bounded number of
times, whatever is sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from node.errors import Unavailable
from node.models import EnvelopeRecord, KnownNode
from node.protocol.inbox import MAX_RETAKES, ingest
from node.protocol.registry import Context, Registry
from sync import ErrorCode, Rejected, new_id, seal
from tests.protocol.conftest import Node
from tests.protocol_helpers import example


def ledger(n: Node, i: int = 0) -> dict[str, Any]:
    return dict(seal(signer=n.child, origin="150603", type="report.filing",
                     recipient="150603", scope="ancestors",
                     body={**example("report.filing", "150603"),
                           "next_year": f"第{i}条"}, id=new_id()))


async def stored(n: Node) -> int:
    async with n.rt.sessions() as s:
        return await s.scalar(select(func.count()).select_from(EnvelopeRecord)) or 0


async def test_every_listener_runs_and_their_receipt_fields_merge(node: Node) -> None:
    seen: list[str] = []

    async def first(ctx: Context) -> dict[str, Any]:
        seen.append("first")
        return {"a": 1}

    async def second(ctx: Context) -> dict[str, Any]:
        seen.append("second")
        return {"b": 2}

    registry = Registry()
    registry.on("report.filing", first)
    registry.on("report.filing", second)
    (res,) = await ingest(node.rt, registry, [ledger(node)])
    assert res["status"] == "accepted" and res["a"] == 1 and res["b"] == 2
    assert seen == ["first", "second"]


async def test_a_later_listeners_rejection_undoes_the_earlier_listeners_writes(
    node: Node
) -> None:
    async def writes(ctx: Context) -> None:  # a listener that writes first
        row = await ctx.session.get(KnownNode, "150603")
        assert row is not None
        row.name = ctx.env["body"]["next_year"]
        await ctx.session.flush()

    async def refuses(ctx: Context) -> None:
        if "bad" in ctx.env["body"]["next_year"]:
            raise Rejected(ErrorCode.schema_violation, "refused by the second listener",
                           "/body/next_year")

    registry = Registry()
    registry.on("report.filing", writes)
    registry.on("report.filing", refuses)
    good = ledger(node, 1)
    bad = dict(seal(signer=node.child, origin="150603", type="report.filing",
                    recipient="150603", scope="ancestors",
                    body={**example("report.filing", "150603"), "next_year": "bad"}))
    before = await stored(node)
    results = await ingest(node.rt, registry, [good, bad])
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert results[1]["error"]["pointer"] == "/body/next_year"
    assert await stored(node) == before + 1
    # the bad envelope's first listener wrote "bad"; its rejection undid that
    async with node.rt.sessions() as s:
        row = await s.get(KnownNode, "150603")
    assert row is not None and row.name == "第1条"


async def test_a_batch_is_retaken_a_bounded_number_of_times(node: Node) -> None:
    async def noop(ctx: Context) -> None:
        return None

    async def refuses(ctx: Context) -> None:
        raise Rejected(ErrorCode.schema_violation, "no")

    registry = Registry()
    registry.on("report.filing", noop)
    registry.on("report.filing", refuses)
    before = await stored(node)
    few = [ledger(node, i) for i in range(3)]
    assert [r["status"] for r in await ingest(node.rt, registry, few)] == ["rejected"] * 3
    many = [ledger(node, i) for i in range(MAX_RETAKES + 2)]
    with pytest.raises(Unavailable):
        await ingest(node.rt, registry, many)
    assert await stored(node) == before


async def test_one_envelope_at_two_processes_of_one_node_at_once(node: Node) -> None:
    """`serve` (pushes) and `worker` (feed pulls) are two processes on one database: the same
    envelope taken in by both at once is stored and applied once, the other answer is
    `duplicate` (on SQLite, a transaction that reads first must not write on stale reads)."""
    import asyncio

    from node.config import Settings
    from node.models import Framework
    from node.runtime import NodeRuntime

    other = NodeRuntime.open(node.rt.cfg, Settings(delivery_loop=False))
    try:
        for round_ in range(5):
            env = dict(seal(signer=node.parent, origin="150000", type="framework.release",
                            recipient="150000", scope="subtree",
                            body={**example("framework.release"), "version": round_ + 1}))
            a, b = await asyncio.gather(ingest(node.rt, node.registry, [env]),
                                        ingest(other, node.registry, [env]))
            assert sorted([a[0]["status"], b[0]["status"]]) == ["accepted", "duplicate"], (a, b)
        async with node.rt.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Framework)) == 5
    finally:
        await other.close()
