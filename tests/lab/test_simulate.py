"""node.lab.simulate, the many-nodes-in-one-process harness under the benchmarks and the national
simulation: a small tree built into a directory that does not exist yet, a release reaching
every node, every county filing and getting its receipt, and the root's audit complete."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from node.audit.timeliness import timeliness
from node.divisions import divisions
from node.lab.harness import pick
from node.lab.simulate import Simulation, publish_plan
from node.models import Filing, Framework, SentFiling
from node.plans.sheets import load_file
from tests.paths import SAMPLE


async def count(sim: Simulation, code: str, query: object) -> int:
    async with sim.rt(code).sessions() as s:
        return int(await s.scalar(query) or 0)  # type: ignore[call-overload]


async def test_small_tree_release_filing_and_audit(tmp_path: Path) -> None:
    codes = pick("150000", depth=2, limit_children=2)  # province, 2 cities, 2 counties each
    counties = [c for c in codes if divisions()[c].level == "county"]
    assert len(codes) == 7 and len(counties) == 4
    sim = Simulation(tmp_path / "not" / "yet" / "there")
    try:
        await sim.build(codes)
        await sim.enrol_all()
        doc = load_file(SAMPLE, "women")
        await publish_plan(sim, "150000", doc, released=date.today())
        fw = select(func.count()).select_from(Framework).where(Framework.origin == "150000")

        async def released() -> bool:
            return all([await count(sim, c, fw) == 1 for c in codes[1:]])

        await sim.wait("the release at every node", released, timeout=60)
        for c in counties:
            await publish_plan(sim, c, doc, released=date.today())
        got = select(func.count()).select_from(SentFiling).where(
            SentFiling.outcome.is_not(None))

        async def receipted() -> bool:
            return all([await count(sim, c, got) == 1 for c in counties])

        await sim.wait("a receipt at every county", receipted, timeout=60)
        for city in (c for c in codes if divisions()[c].level == "city"):
            mine = [c for c in counties if divisions()[c].parent == city]
            assert await count(sim, city, select(func.count()).select_from(Filing)) == len(mine)
        async with sim.rt("150000").sessions() as s:
            rep = await timeliness(session=s, self_code="150000", today=date.today(),
                                   report_years=range(0), kinds={"women": "03-31"})
        rows = {r["code"]: r for r in rep["rows"] if r["filing"] == "plan.women"}
        assert all(rows[c]["received_at"] for c in counties), rows
    finally:
        await sim.close()
