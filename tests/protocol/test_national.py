"""The optional national level (issue #14): 000000 国务院妇儿工委 above the provinces, so the
whole country can be one tree. Level rules (config, enrolment, who may send what) as units;
the flows through national → province → city → county in one process (RoutingTransport) on
SQLite and PostgreSQL. The same journey over real node processes: tests/audit/
test_national_tree.py."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.audit.timeliness import timeliness
from node.config import CHILD_LEVELS, LEVEL_DEPTH, ConfigError, Level, build_config
from node.db import transaction
from node.divisions import NATIONAL, division_children, tree_parent
from node.errors import BadRequest
from node.models import Filing, Framework, KnownNode, LedgerEntry
from node.plans import service as plans
from node.plans.sheets import load_file
from node.protocol.enrol import accept_enrolment, create_invite, proof_bytes
from node.protocol.policy import check, division_child_ok, enrol_level_ok
from sync import Directory, ErrorCode, Rejected, Signer
from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.reports.test_reports_domain import MMR, enrolled_in, file

NATIONAL_TREE = [
    (NATIONAL, "国务院妇儿工委", "national", None),
    ("150000", "内蒙古自治区", "province", NATIONAL),
    ("150600", "鄂尔多斯市", "city", "150000"),
    ("150603", "康巴什区", "county", "150600"),
]


def _cfg(tmp: Path, code: str, level: str, parent: str | None = None) -> object:
    return build_config({"code": code, "name": "x", "level": level,
                         "base_url": "http://127.0.0.1:9", "parent_url": parent,
                         "database_url": "sqlite+aiosqlite:///x.db", "data_dir": str(tmp)})


# ---- level rules -----------------------------------------------------------------------------

def test_init_national_is_000000_without_parent_and_a_province_may_have_one(
        tmp_path: Path) -> None:
    assert _cfg(tmp_path, NATIONAL, "national").level is Level.national  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="national node's code is 000000"):
        _cfg(tmp_path, "150000", "national")
    with pytest.raises(ConfigError, match="top of the tree"):
        _cfg(tmp_path, NATIONAL, "national", "http://127.0.0.1:8000")
    with pytest.raises(ConfigError, match="pass --level national"):
        _cfg(tmp_path, NATIONAL, "province")
    _cfg(tmp_path, "150000", "province")  # a root province stays valid: the level is optional
    _cfg(tmp_path, "150000", "province", "http://127.0.0.1:8000")  # ... or under the national
    with pytest.raises(ConfigError, match="needs a parent"):
        _cfg(tmp_path, "150600", "city")
    with pytest.raises(ConfigError, match="6-digit"):
        _cfg(tmp_path, "000001", "province")


def test_levels_depths_and_who_enrols_whom() -> None:
    assert [LEVEL_DEPTH[lv] for lv in Level] == [0, 1, 2, 3]
    assert CHILD_LEVELS[Level.national] == (Level.province,)
    assert enrol_level_ok("national", "province") is None
    assert enrol_level_ok("province", "city") is None
    assert enrol_level_ok("city", "county") is None
    assert enrol_level_ok("province", "county") is None  # 110101 东城区 is under 北京市 itself
    assert "enrols only province" in (enrol_level_ok("national", "city") or "")
    assert "enrols only province" in (enrol_level_ok("national", "county") or "")
    assert enrol_level_ok("city", "province") is not None  # a province only under 000000
    assert enrol_level_ok("province", "province") is not None
    assert "has no children" in (enrol_level_ok("county", "county") or "")
    assert enrol_level_ok("county", "national") is not None
    assert enrol_level_ok("national", "bogus") is not None


def test_the_division_tree_puts_every_province_under_000000() -> None:
    assert tree_parent("150000") == NATIONAL and tree_parent("150600") == "150000"
    assert tree_parent(NATIONAL) is None and tree_parent("999999") is None
    assert division_child_ok(NATIONAL, "150000", "province") is None
    assert len(division_children()[NATIONAL]) == 34
    assert "belongs under 150000" in (division_child_ok(NATIONAL, "150600", "city") or "")
    assert "belongs under 000000" in (division_child_ok("150600", "150000", "province") or "")
    assert division_child_ok(NATIONAL, "150000", "city") is not None  # wrong level


def _env(type_: str, origin: str, code: str, scope: str, body: dict[str, object]
         ) -> dict[str, object]:
    return {"v": 1, "id": "x", "type": type_, "origin": origin,
            "recipient": {"code": code, "scope": scope}, "created_at": "", "key_id": "k",
            "body": body, "signature": ""}


def test_who_may_send_what_with_the_national_root() -> None:
    d = Directory(self_code=NATIONAL, parents={NATIONAL: None, "150000": NATIONAL,
                                                "150600": "150000", "150603": "150600"},
                  keys={})

    def ok(*a: object) -> None:
        check(_env(*a), d)  # type: ignore[arg-type]

    def refused(code: ErrorCode, *a: object) -> None:
        with pytest.raises(Rejected) as e:
            check(_env(*a), d)  # type: ignore[arg-type]
        assert e.value.code is code

    # frameworks flow down national → province → city → county
    ok("framework.release", NATIONAL, NATIONAL, "subtree", {"framework_id": "000000-women"})
    refused(ErrorCode.wrong_route, "framework.release", "150000", NATIONAL, "subtree",
            {"framework_id": "150000-women"})
    # a province files its plan with the national office; a county only with its city
    ok("plan.filing", "150000", NATIONAL, "node", {"plan_id": "150000-women"})
    refused(ErrorCode.wrong_route, "plan.filing", "150603", NATIONAL, "node",
            {"plan_id": "150603-women"})
    # reports and ledger entries travel up through the province to the national node
    ok("report.filing", "150603", "150603", "ancestors", {"report_id": "150603-r"})
    ok("ledger.entry", "150600", "150600", "ancestors", {"receiver": "150600",
                                                          "filer": "150603"})
    refused(ErrorCode.origin_mismatch, "ledger.entry", "150000", "150000", "ancestors",
            {"receiver": "150000", "filer": "150603"})  # not its child
    # the national node receipts only its own children's filings
    ok("filing.receipt", NATIONAL, "150000", "node", {"filer": "150000"})
    refused(ErrorCode.wrong_route, "filing.receipt", NATIONAL, "150600", "node",
            {"filer": "150600"})
    # a province announces a city it enrolled; the national node checks the division tree
    refused(ErrorCode.division_mismatch, "node.enrolled", "150000", "150000", "ancestors",
            {"parent": "150000", "code": "150603", "level": "county"})


# ---- in one process, SQLite and PostgreSQL ------------------------------------------------

async def test_enrolment_refuses_what_is_not_a_province_under_000000(
        tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, NATIONAL_TREE, enrol=False) as c:
        nat = c.rt(NATIONAL)
        async with transaction(nat.sessions) as s:  # a city is not the national's child
            with pytest.raises(BadRequest, match="150600") as e:
                await create_invite(session=s, code="150600", name="鄂尔多斯市", actor="t",
                                    ttl=timedelta(hours=1))
            assert e.value.code == "division_mismatch"
            token = await create_invite(session=s, code="150000", name="内蒙古", actor="t",
                                        ttl=timedelta(hours=1))
        # the province's code presented as a city: refused, nothing recorded, token unused
        signer = Signer.generate()
        req = {"token": token, "code": "150000", "name": "内蒙古", "level": "city",
               "public_key": signer.public_key,
               "proof": signer.sign(proof_bytes(token, "150000", signer.public_key))}
        with pytest.raises(Rejected, match="enrols only province") as r:
            await accept_enrolment(nat, req)
        assert r.value.code is ErrorCode.enrol_mismatch
        async with nat.sessions() as s:
            assert await s.get(KnownNode, "150000") is None
        # a province cannot enrol under a province either (only under 000000)
        await c.enrol(NATIONAL, "150000")
        await c.enrol("150000", "150600")
        prov = c.rt("150000")
        async with transaction(prov.sessions) as s:
            tok2 = await create_invite(session=s, code="150600", name="x", actor="t",
                                       ttl=timedelta(hours=1), recovery=True)
        req2 = {"token": tok2, "code": "150600", "name": "x", "level": "province",
                "public_key": signer.public_key,
                "proof": signer.sign(proof_bytes(tok2, "150600", signer.public_key))}
        with pytest.raises(Rejected, match="a province cannot enrol under a province"):
            await accept_enrolment(prov, req2)
        await c.settle()
        async with nat.sessions() as s:  # the province announced its city to the national
            city = await s.get(KnownNode, "150600")
            assert city is not None and city.parent_code == "150000"
            me = await s.get(KnownNode, NATIONAL)
            assert me is not None and me.level == "national" and me.parent_code is None
        async with prov.sessions() as s:
            up = await s.get(KnownNode, NATIONAL)
            assert up is not None and up.relation == "parent" and up.level == "national"


async def test_national_framework_reaches_the_county_and_filings_reach_the_national(
        tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, NATIONAL_TREE) as c:
        doc = load_file(SAMPLE, "women")
        for code, released in ((NATIONAL, date(2022, 1, 10)), ("150000", date(2022, 3, 1))):
            rt = c.rt(code)
            async with transaction(rt.sessions) as s:
                await plans.create_plan(session=s, code=code, kind="women", title="t",
                                        document=doc, actor="t")
                pid = f"{code}-women"
                for step in ("consultation", "expert_review", "submit"):
                    await plans.advance(session=s, plan_id=pid, step=step, actor="e")
                await plans.advance(session=s, plan_id=pid, step="approve", actor="d")
                await plans.publish(session=s, rt=rt, plan_id=pid, released_on=released,
                                    actor="d", is_admin=True, override_reason="test")
            await c.settle()
        for code in ("150000", "150600", "150603"):  # national framework down to the county
            async with c.rt(code).sessions() as s:
                origins = set((await s.scalars(select(Framework.origin))).all())
            assert NATIONAL in origins, code
        async with c.rt(NATIONAL).sessions() as s:  # the province filed its plan up
            filing = await s.scalar(select(Filing).where(Filing.filer == "150000"))
            assert filing is not None and filing.kind == "women"
        # a county's annual report: its city receipts it, the ledger entry reaches 000000
        for code in ("150600", "150603"):
            async with transaction(c.rt(code).sessions) as s:
                await plans.create_plan(session=s, code=code, kind="women", title="t",
                                        document=doc, actor="t")
        await enrolled_in(c, 2021, month=1)
        from tests.reports import test_reports_domain as dom
        from tests.reports.test_reports_flow import at

        dom.TREE_PARENT.setdefault("150603", "150600")
        await file(c, "150603", 2024, {MMR: (2, 10_000)}, at(2025, 3, 1, 9))
        async with c.rt(NATIONAL).sessions() as s:
            n = await s.scalar(select(func.count()).select_from(LedgerEntry).where(
                LedgerEntry.filer == "150603", LedgerEntry.filing_type == "report.filing"))
            assert n == 1
            rep = await timeliness(session=s, self_code=NATIONAL, today=date(2025, 6, 1),
                                   report_years=range(2024, 2025), kinds={"women": "03-31"})
        rows = {(r["code"], r["filing"]): r for r in rep["rows"]}
        assert rows[("150603", "report.women.2024")]["status"] == "on_time"
        # the province filed its plan with 000000 (released 2022-03-01, received now: late)
        assert rows[("150000", "plan.women")]["status"] == "late"
        assert rows[("150000", "plan.women")]["receiver"] == NATIONAL
        provinces = {r["code"] for r in rep["rows"] if r["level"] == "province"}
        assert provinces == set(division_children()[NATIONAL])  # 34: the real denominator
        assert rows[("110000", "report.women.2024")]["status"] == "not_enrolled"  # 未接入
        assert rows[("110000", "report.women.2024")]["parent"] == NATIONAL


def test_cli_init_national_and_its_refusals(tmp_path: Path) -> None:
    from tests.procs import run_cli

    ok = run_cli("init", "--code", NATIONAL, "--name", "国务院妇儿工委", "--level", "national",
                 "--data-dir", str(tmp_path / "n"))
    assert "000000 国务院妇儿工委 (national)" in ok.stdout
    bad = run_cli("init", "--code", NATIONAL, "--name", "x", "--level", "national",
                  "--parent-url", "http://127.0.0.1:1", "--data-dir", str(tmp_path / "b"),
                  check=False)
    assert bad.returncode != 0 and "top of the tree" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stderr.startswith("错误 error:")
    assert not (tmp_path / "b" / "node.json").exists()  # nothing left behind
    wrong = run_cli("init", "--code", "150000", "--name", "x", "--level", "national",
                    "--data-dir", str(tmp_path / "w"), check=False)
    assert wrong.returncode != 0 and "000000" in wrong.stderr
