"""One hop, measured without polling: CPU time and SQL statements per propagation hop, against
a floor of the same parts taken in the same run.

    .venv/bin/python bench/hop.py [--runs 30]

A chain province → city → county (150000 → 150600 → 150603) of real node apps in one process,
each with its own SQLite database and key, connected in-process (the lab's RoutingTransport,
i.e. httpx over ASGI). The delivery loops are off; the bench drives each hop by hand:

  hop 1  the province's delivery to the city: read the outbox, push over HTTP, the city checks
         and stores the framework and queues it for the county (a relay hop);
  hop 2  the city's delivery to the county: the county checks and stores it (a leaf hop).

`deliver_target` returns only when the receiver has answered, so the hop's end is exact: no
polling. Each hop's CPU is `time.process_time()` (every thread, so aiosqlite's worker threads
count), its SQL the statements seen by both engines (SQLAlchemy ``before_cursor_execute``; the
transaction's BEGIN/COMMIT/ROLLBACK are counted separately).

The floor, same run, same count: one in-process ASGI request to a bare FastAPI app (GET /healthz),
one `sync.verify` of the very envelope, and one plain sqlite3 INSERT + COMMIT in WAL mode with
the node's synchronous setting. The ratio hop ÷ floor is what issue #16 drives down (goal:
≤ 3 ms of CPU and ≤ 8 statements per hop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import event, select  # noqa: E402

from node.config import Settings  # noqa: E402
from node.delivery.deliver import deliver_target  # noqa: E402
from node.lab.simulate import Simulation, publish_plan  # noqa: E402
from node.models import EnvelopeRecord  # noqa: E402
from node.plans.sheets import load_file  # noqa: E402

SAMPLE = ROOT / "node" / "data" / "framework-sample.json"
CHAIN = ["150000", "150600", "150603"]


class Counter:
    """SQL statements and transaction ends seen by a set of engines."""

    def __init__(self) -> None:
        self.statements = 0
        self.ends = 0
        self.kinds: dict[str, int] = {}

    def attach(self, engine: Any) -> None:
        def on_exec(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
            self.statements += 1
            verb = statement.lstrip().split(None, 1)[0].upper()
            self.kinds[verb] = self.kinds.get(verb, 0) + 1

        def on_end(conn: Any) -> None:
            self.ends += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_exec)
        event.listen(engine.sync_engine, "commit", on_end)
        event.listen(engine.sync_engine, "rollback", on_end)

    def reset(self) -> None:
        self.statements, self.ends, self.kinds = 0, 0, {}


async def one_hop(sim: Simulation, sender: str, target: str, c: Counter) -> dict[str, Any]:
    c.reset()
    w0, p0 = time.perf_counter(), time.process_time()
    out = await deliver_target(sim.rt(sender), target)
    p1, w1 = time.process_time(), time.perf_counter()
    if out.delivered != 1:
        raise RuntimeError(f"{sender} → {target}: delivered {out.delivered}, dead {out.dead}")
    return {"cpu_ms": (p1 - p0) * 1e3, "wall_ms": (w1 - w0) * 1e3,
            "statements": c.statements, "ends": c.ends, "kinds": dict(c.kinds)}


class Floor:
    """CPU of one in-process request + one full `sync.verify` + one sqlite3 commit, with the
    client and the connection kept open as a node keeps its own."""

    def __init__(self, sim: Simulation, receiver: str, db: Path) -> None:
        self.sim, self.receiver = sim, receiver
        from fastapi import FastAPI

        bare = FastAPI()  # the framework's own cost, none of the node's middleware

        @bare.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=bare),
                                        base_url="http://floor")
        self.conn = sqlite3.connect(db)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")  # the node's setting today
        self.conn.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)")
        self.conn.commit()
        self.parts: dict[str, list[float]] = {}

    async def once(self, raw: Any) -> float:
        from datetime import timedelta

        from node.protocol.directory import load_directory
        from sync import verify

        async with self.sim.rt(self.receiver).sessions() as s:
            directory = await load_directory(s, self.receiver)
        text = json.dumps(raw)
        p0 = time.process_time()
        r = await self.client.get("/healthz")
        p1 = time.process_time()
        verify(raw, directory=directory, max_body_bytes=10_000_000,
               max_skew=timedelta(days=1))
        p2 = time.process_time()
        self.conn.execute("INSERT INTO t(v) VALUES (?)", (text,))
        self.conn.commit()
        p3 = time.process_time()
        if r.status_code != 200:
            raise RuntimeError(f"floor request: {r.status_code}")
        for part, t in (("request", p1 - p0), ("verify", p2 - p1), ("commit", p3 - p2)):
            self.parts.setdefault(part, []).append(t * 1e3)
        return (p3 - p0) * 1e3

    async def close(self) -> None:
        await self.client.aclose()
        self.conn.close()


async def main(runs: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="plansync-hop-"))
    sim = Simulation(base, Settings(delivery_loop=False, log_level="WARNING"))
    await sim.build(CHAIN)
    for code in CHAIN[1:]:
        await sim.enrol(code)
    counter = Counter()
    for code in CHAIN:
        counter.attach(sim.rt(code).engine)
    doc = load_file(SAMPLE, "women")
    hops: dict[str, list[dict[str, Any]]] = {"relay": [], "leaf": []}
    floors: list[float] = []
    floor = Floor(sim, CHAIN[2], base / "floor.db")
    try:
        for i in range(runs + 2):  # the first two are warm-up
            await publish_plan(sim, CHAIN[0], doc, released=date.today())
            relay = await one_hop(sim, CHAIN[0], CHAIN[1], counter)
            leaf = await one_hop(sim, CHAIN[1], CHAIN[2], counter)
            async with sim.rt(CHAIN[2]).sessions() as s:
                raw = (await s.execute(select(EnvelopeRecord.raw).order_by(
                    EnvelopeRecord.received_at.desc()).limit(1))).scalar_one()
            f = await floor.once(raw)
            if i >= 2:
                hops["relay"].append(relay)
                hops["leaf"].append(leaf)
                floors.append(f)
    finally:
        await floor.close()
        await sim.close()

    def med(xs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(x[key] for x in xs))

    fl = statistics.median(floors)
    result: dict[str, Any] = {
        "runs": runs, "floor_cpu_ms": round(fl, 3),
        "floor_parts_ms": {k: round(statistics.median(v[2:]), 3)
                           for k, v in floor.parts.items()}}
    for name, xs in hops.items():
        result[name] = {"cpu_ms": round(med(xs, "cpu_ms"), 2),
                        "wall_ms": round(med(xs, "wall_ms"), 2),
                        "statements": int(med(xs, "statements")),
                        "transaction_ends": int(med(xs, "ends")),
                        "kinds": xs[-1]["kinds"],
                        "ratio_to_floor": round(med(xs, "cpu_ms") / fl, 1)}
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    res = asyncio.run(main(args.runs))
    print(json.dumps(res, ensure_ascii=False, indent=2))
    for name in ("relay", "leaf"):
        h = res[name]
        print(f"{name} hop: {h['cpu_ms']} ms CPU ({h['wall_ms']} ms wall), "
              f"{h['statements']} SQL statements + {h['transaction_ends']} commits/rollbacks; "
              f"floor {res['floor_cpu_ms']} ms → {h['ratio_to_floor']}x")
