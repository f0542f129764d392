"""Propagation benchmark: time from the province's release until every node of the 内蒙古
subtree (1 + 12 + 103 = 116 nodes) has verified and stored it, against the baseline of one
hop's latency × depth, measured in the same run.

    .venv/bin/python bench/propagation.py [--root 150000]

All nodes are real node apps with their own SQLite databases and keys in one process,
connected by httpx.ASGITransport; delivery is each node's own in-process loop, kicked after
the commit (no polling schedule). One hop = the province releasing to a single enrolled
child, measured first on a two-node tree.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from node.harness import pick  # noqa: E402
from node.models import Framework  # noqa: E402
from node.plans.document import load_file  # noqa: E402
from node.simulate import Simulation, publish_plan  # noqa: E402

SAMPLE = ROOT / "node" / "data" / "framework-sample.json"


async def release(sim: Simulation, root: str) -> float:
    await publish_plan(sim, root, load_file(SAMPLE, "women"), released=date.today())
    return time.monotonic()


async def has_version(sim: Simulation, code: str, origin: str, version: int) -> bool:
    async with sim.rt(code).sessions() as s:
        n = await s.scalar(select(func.count()).select_from(Framework).where(
            Framework.origin == origin, Framework.version == version))
    return bool(n)


async def measure(sim: Simulation, root: str, others: list[str], version: int) -> tuple[
        float, dict[str, float]]:
    t0 = await release(sim, root)
    arrived: dict[str, float] = {}
    while len(arrived) < len(others):
        for code in others:
            if code not in arrived and await has_version(sim, code, root, version):
                arrived[code] = time.monotonic() - t0
        await asyncio.sleep(0.02)
        if time.monotonic() - t0 > 300:
            raise RuntimeError(f"only {len(arrived)}/{len(others)} nodes got the release")
    return max(arrived.values()), arrived


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="150000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="plansync-prop-"))
    codes = pick(args.root)
    # baseline: one hop, province -> one child, on a two-node tree
    hop_sim = Simulation(base / "hop")
    await hop_sim.build(codes[:2])
    await hop_sim.enrol_all()
    hops = []
    for v in range(1, args.runs + 1):
        total, _ = await measure(hop_sim, codes[0], [codes[1]], v)
        hops.append(total)
    await hop_sim.close()
    hop = statistics.median(hops)

    sim = Simulation(base / "tree")
    t = time.monotonic()
    await sim.build(codes, progress=lambda i, n: print(f"  built {i}/{n}", flush=True))
    await sim.enrol_all(progress=lambda i, n: print(f"  enrolled {i}/{n}", flush=True))
    print(f"built and enrolled {len(codes)} nodes in {time.monotonic() - t:.1f} s")
    from node.divisions import divisions

    def depth_of(code: str) -> int:
        n, p = 0, divisions()[code].parent
        while p is not None and p in sim.apps:
            n, p = n + 1, divisions()[p].parent
        return n

    depth = max(depth_of(c) for c in codes)
    totals = []
    for v in range(1, args.runs + 1):
        total, arrived = await measure(sim, codes[0], codes[1:], v)
        totals.append(total)
        first = min(arrived.values())
        print(f"  run {v}: all {len(arrived)} nodes in {total:.3f} s (first {first:.3f} s)")
    await sim.close()
    total = statistics.median(totals)
    print(f"one hop (median of {args.runs}):            {hop * 1000:8.1f} ms")
    print(f"hop x depth ({depth}) baseline:                {hop * depth * 1000:8.1f} ms")
    print(f"release to all {len(codes) - 1} nodes (median): {total * 1000:8.1f} ms")
    print(f"ratio total / (hop x depth): {total / (hop * depth):.1f}x   (goal: total < 5 s)")


if __name__ == "__main__":
    asyncio.run(main())
