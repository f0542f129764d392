"""Propagation benchmark: time from the province's release until every node of the 内蒙古
subtree (1 + 12 + 103 = 116 nodes) has verified and stored it, against the baseline of one
hop's latency × depth, measured in the same run.

    .venv/bin/python bench/propagation.py [--root 150000] [--processes]

By default all nodes are real node apps with their own SQLite databases and keys in one
process, connected by httpx.ASGITransport; delivery is each node's own in-process loop, kicked
after the commit (no polling schedule). With ``--processes`` every node is a separate
``plansync serve`` process on a loopback port (node.lab.harness.ProcessCluster, as
`plansync cluster up`), the release goes through the province's HTTP API, and arrival is read
from each node's own SQLite file. One hop = the province releasing to a single enrolled child,
measured first on a two-node tree of the same kind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from node.lab.harness import ProcessCluster, pick  # noqa: E402
from node.lab.simulate import Simulation, publish_plan  # noqa: E402
from node.models import Framework  # noqa: E402
from node.plans.sheets import load_file  # noqa: E402

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


# ---- real processes ----------------------------------------------------------------------
# quiet nodes: a slow sweep (retries only; delivery is kicked on commit) and no periodic pull
PROC_ENV = {"PLANSYNC_SWEEP_INTERVAL_SECONDS": "10", "PLANSYNC_PULL_INTERVAL_SECONDS": "3600"}


async def api(c: ProcessCluster, code: str, token: str, method: str, path: str,
              **kw: object) -> object:
    async with httpx.AsyncClient(base_url=c.members[code].url, timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as cl:
        r = await cl.request(method, path, **kw)  # type: ignore[arg-type]
    if r.status_code >= 400:
        raise RuntimeError(f"{code} {method} {path}: {r.status_code} {r.text[:300]}")
    return r.json()


async def release_api(c: ProcessCluster, root: str, version: int) -> float:
    """The province releases (version 1) or revises and re-releases its plan through its API,
    as its editor and director would. Returns the time the publish call returned."""
    admin = c.members[root].token
    pid = f"{root}-women"
    if version == 1:
        toks = {}
        for name, role in (("editor", "editor"), ("director", "reviewer")):
            r = await api(c, root, admin, "POST", "/api/v1/users",
                          json={"name": name, "role": role})
            toks[name] = r["token"]  # type: ignore[index]
        c.env["bench_editor"], c.env["bench_director"] = toks["editor"], toks["director"]
        await api(c, root, toks["editor"], "POST", "/api/v1/plans/import",
                  json={"kind": "women", "title": "规划",
                        "document": json.loads(SAMPLE.read_text(encoding="utf-8"))})
    else:
        await api(c, root, c.env["bench_editor"], "POST", f"/api/v1/plans/{pid}/revise")
    for step in ("expert_review", "submit"):
        await api(c, root, c.env["bench_editor"], "POST", f"/api/v1/plans/{pid}/steps/{step}")
    await api(c, root, c.env["bench_director"], "POST", f"/api/v1/plans/{pid}/steps/approve")
    await api(c, root, c.env["bench_director"], "POST", f"/api/v1/plans/{pid}/publish",
              json={"released_on": date.today().isoformat()})
    return time.monotonic()


def stored(c: ProcessCluster, code: str, origin: str, version: int) -> bool:
    """Read the node's own SQLite file (WAL: a reader does not disturb the node)."""
    db = Path(c.members[code].data_dir) / "plansync.db"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                            timeout=30)) as conn:
        return conn.execute("SELECT 1 FROM frameworks WHERE origin = ? AND version = ?",
                            (origin, version)).fetchone() is not None


async def measure_procs(c: ProcessCluster, root: str, others: list[str], version: int) -> tuple[
        float, dict[str, float]]:
    t0 = await release_api(c, root, version)
    arrived: dict[str, float] = {}
    while len(arrived) < len(others):
        for code in others:
            if code not in arrived and stored(c, code, root, version):
                arrived[code] = time.monotonic() - t0
        await asyncio.sleep(0.02)
        if time.monotonic() - t0 > 300:
            raise RuntimeError(f"only {len(arrived)}/{len(others)} nodes got the release")
    return max(arrived.values()), arrived


async def cluster_of(base: Path, codes: list[str]) -> ProcessCluster:
    t = time.monotonic()
    c = await ProcessCluster.create(base, codes, env=dict(PROC_ENV))
    # 116 interpreters importing at once on 2 cores take a while to answer
    await c.start_all(progress=lambda i, n, what: print(f"  {what}", flush=True)
                      if i % 20 == 0 or i == n else None, ready_timeout=600)
    try:
        await c.enrol_all(progress=lambda i, n, what: print(f"  enrolled {i}/{n}", flush=True)
                          if i % 20 == 0 or i == n else None)
    except BaseException:
        c.stop_all()
        raise
    print(f"started and enrolled {len(codes)} processes in {time.monotonic() - t:.1f} s",
          flush=True)
    return c


async def main_procs(root: str, runs: int, base: Path) -> tuple[float, list[float], int, int]:
    codes = pick(root)
    hop_c = await cluster_of(base / "hop", codes[:2])
    try:
        hops = [(await measure_procs(hop_c, codes[0], [codes[1]], v))[0]
                for v in range(1, runs + 1)]
    finally:
        hop_c.stop_all()
    c = await cluster_of(base / "tree", codes)
    totals = []
    try:
        for v in range(1, runs + 1):
            total, arrived = await measure_procs(c, codes[0], codes[1:], v)
            totals.append(total)
            print(f"  run {v}: all {len(arrived)} nodes in {total:.3f} s "
                  f"(first {min(arrived.values()):.3f} s)", flush=True)
    finally:
        c.stop_all()
    return statistics.median(hops), totals, len(codes), 2


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="150000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", action="store_true",
                    help="every node a separate `plansync serve` process")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="plansync-prop-"))
    if args.processes:
        hop, totals, n, depth = await main_procs(args.root, args.runs, base)
        report(hop, totals, n, depth, args.runs, "separate processes")
        return
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
    report(hop, totals, len(codes), depth, args.runs, "one process")


def report(hop: float, totals: list[float], n: int, depth: int, runs: int, how: str) -> None:
    total = statistics.median(totals)
    print(f"{n} nodes, {how}")
    print(f"one hop (median of {runs}):            {hop * 1000:8.1f} ms")
    print(f"hop x depth ({depth}) baseline:                {hop * depth * 1000:8.1f} ms")
    print(f"release to all {n - 1} nodes (median): {total * 1000:8.1f} ms   runs: "
          + " / ".join(f"{t:.2f} s" for t in totals))
    print(f"ratio total / (hop x depth): {total / (hop * depth):.1f}x   (goal: total < 5 s)")


if __name__ == "__main__":
    asyncio.run(main())
