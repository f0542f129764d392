"""Mid-term (2025) and final (2030) evaluations: categories proposed from the data and
overridden with a reason, member units' self-evaluations, filing upward through a city to the
province (receipt, ledger at every ancestor, return, refiling keeps the due date), the parent's
aggregate, and the timeliness audit — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import docx
import pytest
from sqlalchemy import func, select, update

from node.audit.timeliness import evaluation_days_in_force, timeliness
from node.auth.service import create_user, issue_token
from node.db import transaction
from node.errors import BadRequest, Conflict, Forbidden
from node.evaluations import service
from node.models import (
    Evaluation,
    EvaluationOverride,
    EvaluationSelf,
    KnownNode,
    LedgerEntry,
    ReceivedEvaluation,
    User,
)
from node.plans import service as plans
from node.plans.document import DocumentError, PlanDocument, parse_document
from node.plans.sheets import load_file
from node.reports import service as reports
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

SH = ZoneInfo("Asia/Shanghai")
TREE = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000"),
        ("150603", "康巴什区", "county", "150600"), ("150602", "东胜区", "county", "150600")]
MMR, SCREEN, HIV, LABOUR, URBAN = ("W-HEALTH-01", "W-HEALTH-02", "W-HEALTH-03", "W-ECON-01",
                                   "W-ECON-02")


def office() -> User:
    return User(name="office", role="admin", unit=None)


def document(evaluation_due: str | None = None) -> PlanDocument:
    """The sample women's plan with lead units: 卫健委 leads health, 人社局 the economy."""
    doc = load_file(SAMPLE, "women")
    inds = [i.model_copy(update={"lead_unit": "卫健委" if i.area.endswith("健康") else "人社局",
                                 "responsible_units": ["统计局"]}) for i in doc.indicators]
    return doc.model_copy(update={"indicators": inds, "evaluation_due": evaluation_due})


async def setup(c: Cluster, due: dict[str, str | None] | None = None) -> None:
    """The women's plan at every node; the offices count as enrolled since 2021."""
    for code in c.apps:
        async with transaction(c.rt(code).sessions) as s:
            await s.execute(update(KnownNode).where(KnownNode.enrolled_at.is_not(None))
                            .values(enrolled_at=datetime(2021, 1, 5, tzinfo=SH)))
    for code in c.apps:
        async with transaction(c.rt(code).sessions) as s:
            await plans.create_plan(session=s, code=code, kind="women", title="t",
                                    document=document((due or {}).get(code)), actor="t")


async def values(c: Cluster, code: str, data: dict[str, dict[int, Any]]) -> None:
    async with transaction(c.rt(code).sessions) as s:
        for ind, years in data.items():
            for y, (num, den) in years.items():
                await reports.enter_value(session=s, code=code, kind="women", year=y,
                                          indicator=ind, user=office(), numerator=num,
                                          denominator=den)


def at(y: int, m: int, d: int, hh: int = 12) -> datetime:
    return datetime(y, m, d, hh, tzinfo=SH)


async def file_at(c: Cluster, code: str, parent: str, when: datetime) -> None:
    c.rt(parent).clock = lambda: when
    async with transaction(c.rt(code).sessions) as s:
        await service.file_evaluation(session=s, rt=c.rt(code), kind="women", stage=2025,
                                      actor="director")
    await c.settle()


COUNTY_DATA = {
    MMR: {2024: (1, 9_000), 2025: (1, 10_000)},  # 10/10万 < 12: already met → 提前达标
    SCREEN: {2021: (50, 100), 2023: (58, 100), 2025: (66, 100)},  # +4/yr → 86% > 70%
    HIV: {2023: (5, 100), 2025: (5, 100)},  # flat at 5% ≥ 2%: 达标困难
    URBAN: {2025: (30, 100)},  # one year, below the floor of 40%: 达标困难
}  # LABOUR: no value → 无数据


async def test_proposals_overrides_and_self_evaluations(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        await setup(c)
        await values(c, "150603", COUNTY_DATA)
        rt = c.rt("150603")
        async with rt.sessions() as s:
            mid = {i["code"]: i for i in (await service.view(
                session=s, code="150603", kind="women", stage=2025))["items"]}
            final = {i["code"]: i for i in (await service.view(
                session=s, code="150603", kind="women", stage=2030))["items"]}
        assert {k: v["proposed"] for k, v in mid.items()} == {
            MMR: "ahead", SCREEN: "on_track", HIV: "at_risk", LABOUR: "no_data",
            URBAN: "at_risk"}
        assert mid[SCREEN]["value"] == pytest.approx(66) and mid[SCREEN]["year"] == 2025
        assert {k: v["proposed"] for k, v in final.items()} == {
            MMR: "met", SCREEN: "missed", HIV: "missed", LABOUR: "no_data", URBAN: "missed"}
        # a value after the stage year is not evaluated at the mid-term
        await values(c, "150603", {LABOUR: {2026: (50, 100)}})
        async with rt.sessions() as s:
            v = await service.view(session=s, code="150603", kind="women", stage=2025)
        assert next(i for i in v["items"] if i["code"] == LABOUR)["proposed"] == "no_data"

        async with transaction(rt.sessions) as s:
            # an override needs a reason, and a category of the stage; bad input changes nothing
            with pytest.raises(BadRequest, match="reason"):
                await service.override(session=s, code="150603", kind="women", stage=2025,
                                       indicator=SCREEN, category="at_risk", reason="  ",
                                       actor="office")
            with pytest.raises(BadRequest, match="category"):
                await service.override(session=s, code="150603", kind="women", stage=2025,
                                       indicator=SCREEN, category="met", reason="x",
                                       actor="office")
            with pytest.raises(BadRequest, match="not in"):
                await service.override(session=s, code="150603", kind="women", stage=2025,
                                       indicator="NOPE", category="at_risk", reason="x",
                                       actor="office")
            assert await s.scalar(select(func.count()).select_from(EvaluationOverride)) == 0
            item = await service.override(session=s, code="150603", kind="women", stage=2025,
                                          indicator=SCREEN, category="at_risk",
                                          reason="2025年起统计口径调整，趋势不可比", actor="office")
            assert item["category"] == "at_risk" and item["proposed"] == "on_track"
            assert item["overridden"] and item["reason"].startswith("2025年")

            wjw = await create_user(session=s, name="wjw", role="member_unit", password=None,
                                    actor="t", unit="卫健委")
            rsj = await create_user(session=s, name="rsj", role="member_unit", password=None,
                                    actor="t", unit="人社局")
            viewer = await create_user(session=s, name="v", role="viewer", password=None,
                                       actor="t")
        async with transaction(rt.sessions) as s:
            # a member unit only for its own unit and its own indicators; all or nothing
            with pytest.raises(Forbidden, match="人社局"):
                await service.self_evaluate(session=s, code="150603", kind="women", stage=2025,
                                            user=wjw, unit="人社局",
                                            items=[{"code": LABOUR, "category": "no_data"}])
            with pytest.raises(Forbidden, match="卫健委"):
                await service.self_evaluate(
                    session=s, code="150603", kind="women", stage=2025, user=wjw, unit=None,
                    items=[{"code": MMR, "category": "ahead", "text": "ok"},
                           {"code": LABOUR, "category": "no_data"}])
            with pytest.raises(BadRequest, match="category"):
                await service.self_evaluate(session=s, code="150603", kind="women", stage=2025,
                                            user=wjw, unit=None,
                                            items=[{"code": MMR, "category": "met"}])
            with pytest.raises(Forbidden):
                await service.self_evaluate(session=s, code="150603", kind="women", stage=2025,
                                            user=viewer, unit="卫健委",
                                            items=[{"code": MMR, "category": "ahead"}])
            assert await s.scalar(select(func.count()).select_from(EvaluationSelf)) == 0
            n = await service.self_evaluate(
                session=s, code="150603", kind="women", stage=2025, user=wjw, unit=None,
                items=[{"code": c, "category": "ahead", "text": "提前达标"}
                       for c in (MMR, SCREEN, HIV)])
            assert n == 3
            await service.self_evaluate(session=s, code="150603", kind="women", stage=2025,
                                        user=rsj, unit=None,
                                        items=[{"code": URBAN, "category": "at_risk"}])
        async with rt.sessions() as s:
            v = await service.view(session=s, code="150603", kind="women", stage=2025)
        units = {u["unit"]: u for u in v["units"]}
        assert units["卫健委"] == {"unit": "卫健委", "indicators": 3, "submitted": 3,
                                 "done": True}
        assert units["人社局"]["submitted"] == 1 and not units["人社局"]["done"]
        assert units["统计局"]["submitted"] == 0  # responsible for all five, none submitted
        mmr = next(i for i in v["items"] if i["code"] == MMR)
        assert [x["unit"] for x in mmr["self"]] == ["卫健委"]
        assert v["counts"]["at_risk"] == 3 and v["due_on"] == "2026-06-30"


async def test_filed_up_returned_refiled_and_audited_across_three_levels(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TREE) as c:
        await setup(c)
        await values(c, "150603", COUNTY_DATA)
        await values(c, "150600", {MMR: {2025: (3, 20_000)}})
        city, prov = c.rt("150600"), c.rt("150000")
        # the county files three days after June 30 of 2026
        await file_at(c, "150603", "150600", at(2026, 7, 3))
        async with city.sessions() as s:
            got = (await s.scalars(select(ReceivedEvaluation))).all()
        assert len(got) == 1
        first = got[0]
        assert (first.filer, first.direct, first.outcome) == ("150603", True, "accepted")
        assert first.due_on == date(2026, 6, 30) and first.late_days == 3
        assert {i["code"]: i["category"] for i in first.items}[MMR] == "ahead"
        async with prov.sessions() as s:  # relayed to the province, and its ledger entry
            up = (await s.scalars(select(ReceivedEvaluation))).all()
            led = (await s.scalars(select(LedgerEntry).where(
                LedgerEntry.filing_type == "evaluation.filing"))).all()
        assert [(r.filer, r.outcome) for r in up] == [("150603", "relayed")]
        assert [(x.filer, x.receiver, x.year, x.late_days) for x in led] == [
            ("150603", "150600", 2025, 3)]
        # a filed evaluation cannot change
        async with transaction(c.rt("150603").sessions) as s:
            with pytest.raises(Conflict, match="filed"):
                await service.set_summary(session=s, code="150603", kind="women", stage=2025,
                                          text="x", actor="t")
        # the city returns it (with reasons), much later
        async with transaction(city.sessions) as s:
            with pytest.raises(BadRequest, match="reasons"):
                await service.return_evaluation(session=s, rt=city, filing_id=first.id,
                                                reasons=" ", actor="reviewer")
            await service.return_evaluation(session=s, rt=city, filing_id=first.id,
                                            reasons="请补充达标困难指标的原因分析",
                                            actor="reviewer")
        await c.settle()
        async with transaction(city.sessions) as s:
            with pytest.raises(Conflict):
                await service.return_evaluation(session=s, rt=city, filing_id=first.id,
                                                reasons="again", actor="reviewer")
        async with c.rt("150603").sessions() as s:
            ev = await s.get(Evaluation, "150603-women-2025")
            assert ev is not None and ev.status == "returned"
        async with transaction(c.rt("150603").sessions) as s:
            await service.set_summary(session=s, code="150603", kind="women", stage=2025,
                                      text="补充：艾滋病母婴传播率持平，原因是……", actor="t")
        # the refiling keeps the due date of June 30: 40 days late, not a new clock
        await file_at(c, "150603", "150600", at(2026, 8, 9))
        async with city.sessions() as s:
            rows = (await s.scalars(select(ReceivedEvaluation).order_by(
                ReceivedEvaluation.received_at))).all()
        assert [(r.outcome, r.late_days) for r in rows] == [("returned", 3), ("accepted", 40)]
        assert rows[1].refiling_of == first.id and rows[1].due_on == date(2026, 6, 30)
        assert rows[1].summary.startswith("补充")

        # the city's own evaluation, filed on time with the province
        await file_at(c, "150600", "150000", at(2026, 6, 1))
        # the audit at the province: on time, late, overdue — from its ledger alone
        c.transport.offline.add("n150600.test")
        async with prov.sessions() as s:
            days = await evaluation_days_in_force(s, "150000")
            assert days == {"women": None}
            rep = await timeliness(session=s, self_code="150000", today=date(2026, 11, 22),
                                   report_years=range(2025, 2026), kinds={"women": "03-31"},
                                   evaluations=days)
            agg = await service.aggregate(session=s, code="150000", kind="women", stage=2025,
                                          under="150600")
            top = await service.aggregate(session=s, code="150000", kind="women", stage=2025)
        rows_by = {(r["code"], r["filing"]): r for r in rep["rows"]}
        county = rows_by[("150603", "evaluation.women.2025")]
        assert county["status"] == "late" and county["late_days"] == 40
        assert [h["outcome"] for h in county["history"]] == [
            "accepted", "returned", "accepted"]
        assert rows_by[("150600", "evaluation.women.2025")]["status"] == "on_time"
        assert rows_by[("150602", "evaluation.women.2025")]["status"] == "overdue"
        assert rows_by[("150602", "evaluation.women.2025")]["due_on"] == "2026-06-30"
        # a county that never enrolled (the real tree): 未接入
        assert rows_by[("150621", "evaluation.women.2025")]["status"] == "not_enrolled"
        assert ("150603", "evaluation.women.2030") not in rows_by  # the final: not yet
        # the same rows through the evaluations' own audit (API and CLI use it)
        async with prov.sessions() as s:
            ev_audit = await service.audit(session=s, self_code="150000",
                                           today=date(2026, 11, 22))
        mine = {(r["code"], r["filing"]): r for r in ev_audit["rows"]}
        assert {k: v["status"] for k, v in mine.items() if k[0] in ("150600", "150603",
                                                                    "150602")} == {
            ("150603", "evaluation.women.2025"): "late",
            ("150600", "evaluation.women.2025"): "on_time",
            ("150602", "evaluation.women.2025"): "overdue"}
        assert all(f.startswith("evaluation.") for _, f in mine)
        assert ev_audit["counts"]["late"] == 1 and ev_audit["counts"]["on_time"] == 1
        # the province's aggregate of the city's counties, and of its own children
        by = {r["code"]: r for r in agg["indicators"]}
        assert agg["filed"] == ["150603"] and "150602" in agg["missing"]
        assert by[MMR]["counts"]["ahead"] == 1 and by[MMR]["children"] == {"150603": "ahead"}
        assert by[LABOUR]["counts"]["no_data"] == 1
        assert top["filed"] == ["150600"]
        # the city's own 15/10万 (3 of 20,000) in one year: 达标困难
        assert {r["code"]: r["counts"]["at_risk"] for r in top["indicators"]}[MMR] == 1


async def test_due_day_from_the_framework_and_bad_days_refused(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    with pytest.raises(DocumentError, match="evaluation_due"):
        parse_document({**document().dump(), "evaluation_due": "13-45"})
    assert parse_document({**document().dump(), "evaluation_due": "02-29"}).evaluation_due \
        == "02-29"
    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        # the city's framework gives its counties until September 30
        await setup(c, {"150600": "09-30"})
        await values(c, "150603", COUNTY_DATA)
        await file_at(c, "150603", "150600", at(2026, 9, 30, 23))
        async with c.rt("150600").sessions() as s:
            row = await s.scalar(select(ReceivedEvaluation))
        assert row is not None and row.due_on == date(2026, 9, 30) and row.late_days == 0
        # the final evaluation of 2030, with no parent: the province cannot file
        async with transaction(c.rt("150000").sessions) as s:
            with pytest.raises(Conflict, match="parent"):
                await service.file_evaluation(session=s, rt=c.rt("150000"), kind="women",
                                              stage=2030, actor="t")
            with pytest.raises(BadRequest, match="stage"):
                await service.view(session=s, code="150000", kind="women", stage=2027)


async def test_api_roles_and_typed_errors(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TREE[:3]) as c:
        await setup(c)
        await values(c, "150603", COUNTY_DATA)
        rt = c.rt("150603")
        async with transaction(rt.sessions) as s:
            tokens: dict[str, str] = {}
            for name, role, unit in (("ed", "editor", None), ("dir", "reviewer", None),
                                     ("wjw", "member_unit", "卫健委"), ("v", "viewer", None)):
                u = await create_user(session=s, name=name, role=role, password=None,
                                      actor="t", unit=unit)
                tokens[name] = await issue_token(session=s, user=u, label="t", actor="t")
        async with c.client("150603", tokens["ed"]) as ed, \
                c.client("150603", tokens["wjw"]) as wjw, \
                c.client("150603", tokens["v"]) as viewer, \
                c.client("150603", tokens["dir"]) as director:
            r = await ed.get("/api/v1/evaluations/women/2025")
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            assert body["status"] == "draft" and len(body["items"]) == 5
            r = await ed.get("/api/v1/evaluations/women/2024")
            assert r.status_code == 422 or r.status_code == 400
            assert "error" in r.json()
            r = await ed.put(f"/api/v1/evaluations/women/2025/items/{HIV}",
                             json={"category": "missed"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "reason_required"
            r = await ed.put(f"/api/v1/evaluations/women/2025/items/{HIV}",
                             json={"category": "missed", "reason": "2025年目标未完成"})
            assert r.status_code == 200 and r.json()["category"] == "missed"
            r = await viewer.put(f"/api/v1/evaluations/women/2025/items/{HIV}",
                                 json={"category": None})
            assert r.status_code == 403
            r = await wjw.put("/api/v1/evaluations/women/2025/self",
                              json={"unit": "人社局", "items": [{"code": URBAN,
                                                               "category": "at_risk"}]})
            assert r.status_code == 403 and "error" in r.json()
            r = await wjw.put("/api/v1/evaluations/women/2025/self",
                              json={"items": [{"code": MMR, "category": "ahead",
                                               "text": "已提前达标"}]})
            assert r.status_code == 200 and r.json() == {"saved": 1}
            r = await ed.put("/api/v1/evaluations/women/2025/summary", json={"text": "总结"})
            assert r.status_code == 200
            r = await ed.post("/api/v1/evaluations/women/2025/file")
            assert r.status_code == 403  # filing is the director's (plans.approve)
            c.rt("150600").clock = lambda: at(2026, 6, 1)
            r = await director.post("/api/v1/evaluations/women/2025/file")
            assert r.status_code == 200 and r.json()["status"] == "filed"
            r = await director.post("/api/v1/evaluations/women/2025/file")
            assert r.status_code == 409
        await c.settle()
        async with transaction(c.rt("150600").sessions) as s:
            rev = await create_user(session=s, name="rev", role="reviewer", password=None,
                                    actor="t")
            t = await issue_token(session=s, user=rev, label="t", actor="t")
        async with c.client("150600", t) as cl:
            r = await cl.get("/api/v1/evaluations/received")
            assert r.status_code == 200
            got = r.json()
            assert [(x["filer"], x["outcome"], x["late_days"]) for x in got] == [
                ("150603", "accepted", 0)]
            assert {i["code"]: i for i in got[0]["items"]}[HIV]["reason"] == "2025年目标未完成"
            r = await cl.get("/api/v1/evaluations/audit")
            assert r.status_code == 403  # a reviewer: not audit.read
            r = await cl.get("/api/v1/evaluations/received?kind=men")
            assert r.status_code == 400
            r = await cl.get("/api/v1/evaluations/women/2025/children")
            assert r.status_code == 200
            hiv = {x["code"]: x for x in r.json()["indicators"]}[HIV]
            assert hiv["counts"]["missed"] == 1
            r = await cl.post("/api/v1/evaluations/received/nope/return", json={"reasons": "x"})
            assert r.status_code == 404
            r = await cl.post(f"/api/v1/evaluations/received/{got[0]['id']}/return",
                              json={"reasons": "请补充"})
            assert r.status_code == 200
            # the city's evaluation report as a .docx: its children's counted
            r = await cl.get("/api/v1/evaluations/women/2025/document")
            assert r.status_code == 200
            doc = docx.Document(BytesIO(r.content))
            text = "\n".join(p.text for p in doc.paragraphs)
            assert "鄂尔多斯市妇女发展规划中期评估报告" in text and "四、下级评估汇总" in text
        await c.settle()
        async with c.client("150603", tokens["ed"]) as ed:
            r = await ed.get("/api/v1/evaluations/women/2025")
            assert r.json()["status"] == "returned"
            r = await ed.get("/api/v1/evaluations/women/2025/document")
            assert r.status_code == 200 and "filename*=UTF-8''" in r.headers[
                "content-disposition"]
            doc = docx.Document(BytesIO(r.content))
            rows = {row.cells[0].text: [c.text for c in row.cells]
                    for row in doc.tables[0].rows}
            assert rows[HIV][4:] == ["达标困难", "未达标", "2025年目标未完成"]
            assert rows[MMR][4:6] == ["提前达标", "提前达标"]
            assert "下级评估汇总" not in "\n".join(p.text for p in doc.paragraphs)


async def test_evaluation_filings_cannot_be_forged_or_misrouted(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    """The policy row of evaluation.filing: only about the origin's own evaluation, only up
    to its own ancestors, and a refiling only of the origin's own evaluation."""
    import sync

    async with cluster(tmp_path, db_factory, TREE) as c:
        await setup(c)
        await values(c, "150602", COUNTY_DATA)
        await file_at(c, "150602", "150600", at(2026, 6, 1))
        async with c.rt("150600").sessions() as s:
            sibling = await s.scalar(select(ReceivedEvaluation.id))
        assert sibling is not None
        county = c.rt("150603").signer
        body: dict[str, Any] = {**sync.type_schema("evaluation.filing")["examples"][0],
                                "evaluation_id": "150603-women-2025"}

        def env(b: dict[str, Any], recipient: str = "150603",
                scope: Literal["node", "subtree", "ancestors"] = "ancestors") -> dict[str, Any]:
            return dict(sync.seal(signer=county, origin="150603", type="evaluation.filing",
                                  recipient=recipient, scope=scope, body=b))

        someone_elses = env({**body, "evaluation_id": "150602-women-2025"})
        sideways = env(body, recipient="150602", scope="subtree")
        borrows = env({**body, "refiling_of": sibling})
        bad_stage = env({**body, "stage": 2027})
        async with c.client("150600") as cl:
            r = await cl.post("/sync/v1/envelopes", json={"envelopes": [
                someone_elses, sideways, borrows, bad_stage]})
        got = [x["error"]["code"] if x["status"] == "rejected" else x["status"]
               for x in r.json()["results"]]
        assert got == ["origin_mismatch", "wrong_route", "origin_mismatch", "schema_violation"]
        async with c.rt("150600").sessions() as s:
            assert await s.scalar(select(func.count()).select_from(ReceivedEvaluation)) == 1
        # the real one is accepted
        async with c.client("150600") as cl:
            r = await cl.post("/sync/v1/envelopes", json={"envelopes": [env(body)]})
        assert r.json()["results"][0]["status"] == "accepted"
