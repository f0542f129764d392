"""National simulation: every division in divisions.json (34 provinces, 334 cities, 2,851
counties = 3,219 nodes) as real node apps with their own SQLite databases and keys in one
process, connected by the lab's RoutingTransport (httpx.ASGITransport).

Without ``--national`` each province is the root of its tree: every province releases its
framework, it must reach every node below, then every county publishes its plan and files it
with its parent, and every province's timeliness audit must show every county's filing.
With ``--national`` the optional national node 000000 (国务院妇儿工委) is the one root above
the provinces (issue #16): it alone releases the framework, which must reach every node, and
its one audit must show every county's filing (its denominator: all 34 provinces, the ones
not simulated 未接入). Reports wall time per phase and peak memory (RSS).

    .venv/bin/python bench/national.py [--provinces N] [--national] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Select, func, select  # noqa: E402

from node.audit.timeliness import timeliness  # noqa: E402
from node.divisions import NATIONAL, divisions  # noqa: E402
from node.lab.harness import pick  # noqa: E402
from node.lab.simulate import Simulation, publish_plan  # noqa: E402
from node.models import Framework, SentFiling  # noqa: E402
from node.plans.sheets import load_file  # noqa: E402

SAMPLE = ROOT / "node" / "data" / "framework-sample.json"
DOC = load_file(SAMPLE, "women")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def publish(sim: Simulation, code: str) -> None:
    await publish_plan(sim, code, DOC, released=date.today())


async def count_done(sim: Simulation, codes: list[str], query: Select[Any]) -> int:
    n = 0
    for code in codes:
        async with sim.rt(code).sessions() as s:
            if await s.scalar(query):
                n += 1
    return n


async def run(provinces: list[str], label: str, national: bool = False
              ) -> tuple[int, dict[str, float], float]:
    """Build, enrol, release, file and audit the trees under `provinces` (with ``national``:
    below the national node 000000, which releases and audits); return the node count, the
    seconds per phase and the peak RSS so far."""
    codes = ([NATIONAL] if national else []) + [c for p in provinces for c in pick(p)]
    roots = [NATIONAL] if national else provinces
    counties = [c for c in codes if c != NATIONAL and divisions()[c].level == "county"]
    print(f"{label}: {len(codes)} nodes: {len(provinces)} provinces, {len(counties)} counties",
          flush=True)
    # delivery is kicked after each commit; the periodic sweep (retries only) is slowed down,
    # or thousands of idle loops would spend the CPU sweeping empty outboxes
    from node.config import Settings

    sim = Simulation(Path(tempfile.mkdtemp(prefix="plansync-national-")),
                     Settings(sweep_interval_seconds=60, pull_interval_seconds=3600,
                              log_level="WARNING"))
    phases: dict[str, float] = {}
    t = time.monotonic()
    await sim.build(codes, progress=lambda i, n: print(f"  built {i}/{n}  rss "
                                                         f"{rss_mb():.0f} MB", flush=True))
    phases["build"] = time.monotonic() - t
    t = time.monotonic()
    await sim.enrol_all(progress=lambda i, n: print(f"  enrolled {i}/{n}", flush=True))
    phases["enrol"] = time.monotonic() - t

    t = time.monotonic()
    for p in roots:
        await publish(sim, p)
    below = [c for c in codes if c not in roots]
    q = select(func.count()).select_from(Framework)
    while (done := await count_done(sim, below, q)) < len(below):
        print(f"  framework at {done}/{len(below)} nodes ({time.monotonic() - t:.0f} s)",
              flush=True)
        await asyncio.sleep(0.1 if len(codes) < 500 else 2)
    phases["release to every node"] = time.monotonic() - t
    print(f"  release reached all {len(below)} nodes in "
          f"{phases['release to every node']:.1f} s", flush=True)

    t = time.monotonic()
    for i, c in enumerate(counties):
        await publish(sim, c)
        if (i + 1) % 250 == 0:
            print(f"  {i + 1}/{len(counties)} counties published", flush=True)
    q2 = select(func.count()).select_from(SentFiling).where(SentFiling.outcome.is_not(None))
    while (done := await count_done(sim, counties, q2)) < len(counties):
        print(f"  receipts at {done}/{len(counties)} counties ({time.monotonic() - t:.0f} s)",
              flush=True)
        await asyncio.sleep(0.1 if len(codes) < 500 else 2)
    phases["every county files and gets its receipt"] = time.monotonic() - t

    t = time.monotonic()
    complete = 0
    simulated = set(codes)
    for p in roots:
        async with sim.rt(p).sessions() as s:
            rep = await timeliness(session=s, self_code=p, today=date.today(),
                                   report_years=range(0), kinds={"women": "03-31"})
        rows = [r for r in rep["rows"] if r["filing"] == "plan.women"
                and r["code"] in simulated and divisions()[r["code"]].level == "county"]
        assert all(r["received_at"] for r in rows), f"{p}: audit incomplete"
        complete += len(rows)
        if national:  # the national denominator: every province, the others 未接入
            provs = {r["code"] for r in rep["rows"] if r["level"] == "province"}
            assert len(provs) == 34, f"national audit counts {len(provs)} provinces"
            missing = [r for r in rep["rows"] if r["code"] in provs - set(provinces)]
            assert all(r["status"] in ("not_enrolled", "pending") for r in missing)
    phases["audits"] = time.monotonic() - t
    assert complete == len(counties), f"audits show {complete} of {len(counties)} counties"
    print(f"  {'the national' if national else 'every province'}'s audit shows all "
          f"{complete} county filings", flush=True)
    await sim.close()
    return len(codes), phases, rss_mb()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--provinces", type=int, default=None, help="only the first N provinces")
    ap.add_argument("--baseline", default="150000",
                    help="province whose tree alone is the same-run baseline (default 内蒙古)")
    ap.add_argument("--national", action="store_true",
                    help="the national node 000000 as the one root above the provinces")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the one-province baseline (a quick check)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    provinces = sorted(c for c, d in divisions().items() if d.parent is None)
    provinces = provinces[:args.provinces]

    # baseline first (its peak memory is then below the national run's); memory per node is
    # counted above what the process held before any node existed (imports)
    start_rss = rss_mb()
    if args.no_baseline:
        n, phases, rss = await run(provinces, "national", national=args.national)
        for k, v in phases.items():
            print(f"  {k:<42} {v:9.1f}s")
        print(f"  {n} nodes, peak RSS {rss:.0f} MB")
        return
    n0, base, rss0 = await run([args.baseline], "baseline", national=args.national)
    n, phases, rss = await run(provinces, "national", national=args.national)

    print(f"\nnational simulation: {n} nodes in one process; baseline: the {n0}-node tree of "
          f"{args.baseline} alone, same run; ratio = national per node / baseline per node "
          f"(1.0 = scales linearly)")
    print(f"  {'phase':<42} {'national':>10} {'baseline':>10} {'ratio':>7}")
    for k, v in phases.items():
        b = base[k]
        ratio = (v / n) / (b / n0) if b else float("nan")
        print(f"  {k:<42} {v:9.1f}s {b:9.1f}s {ratio:6.2f}x")
    total, total0 = sum(phases.values()), sum(base.values())
    print(f"  {'total':<42} {total:9.1f}s {total0:9.1f}s "
          f"{(total / n) / (total0 / n0):6.2f}x")
    per, per0 = (rss - start_rss) / n, (rss0 - start_rss) / n0
    print(f"  peak RSS {rss:.0f} MB ({per:.2f} MB per node above the {start_rss:.0f} MB before "
          f"any node); baseline peak {rss0:.0f} MB ({per0:.2f} MB per node); "
          f"per-node ratio {per / per0:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
