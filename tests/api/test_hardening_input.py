"""Issue #10, bad input never reaches a 500: NUL characters, strings longer than their column,
unbounded integers, documents the node could not store, malformed enrolment requests. Each on
SQLite and PostgreSQL (where asyncpg refuses NUL and over-long values); each bad request is a
typed 400 (``{"error": {"code", "message"}}``) and changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from openpyxl import Workbook
from sqlalchemy import func, select

from node.app import create_app
from node.auth.service import create_user, issue_token
from node.config import build_config
from node.db import transaction
from node.models import AuditEntry, Invite, KnownNode, Plan, PlanComment, User
from node.plans import service
from node.plans.sheets import load_file, write_xlsx
from node.protocol.enrol import create_invite, proof_bytes
from sync import Signer
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

ONE = [("150000", "内蒙古自治区", "province", None)]
JSON = {"content-type": "application/json"}
FORM = {"kind": "women", "title": "t"}  # the multipart import's fields beside the file


async def _admin(c: Cluster) -> dict[str, str]:
    rt = c.rt("150000")
    async with transaction(rt.sessions) as s:
        user = await create_user(session=s, name="admin", role="admin", password=None,
                                 actor="test")
        token = await issue_token(session=s, user=user, label="t", actor="test")
    return {"Authorization": f"Bearer {token}"}


async def _count(c: Cluster, model: Any) -> int:
    async with c.rt("150000").sessions() as s:
        return await s.scalar(select(func.count()).select_from(model)) or 0


def _error(r: httpx.Response, status: int = 400) -> dict[str, str]:
    assert r.status_code == status, (r.status_code, r.text)
    err: dict[str, str] = r.json()["error"]
    assert set(err) >= {"code", "message"}, err
    return err


def _xlsx(area: str = "健康", target: object = 10) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "指标"
    ws.append(["领域", "指标编码", "指标", "单位", "比较", "目标值"])
    ws.append([area, "W-1", "孕产妇死亡率", "1/10万", "<", target])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


async def test_nul_characters_are_a_typed_400_everywhere(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        h = await _admin(c)
        rt = c.rt("150000")
        async with transaction(rt.sessions) as s:
            await service.create_plan(session=s, code="150000", kind="women", title="规划",
                                      document=load_file(SAMPLE, "women"), actor="test")
            await service.advance(session=s, plan_id="150000-women", step="consultation",
                                  actor="test")
        users, plans, comments = (await _count(c, User), await _count(c, Plan),
                                  await _count(c, PlanComment))
        audit = await _count(c, AuditEntry)
        async with c.client("150000") as cl:
            for method, url, body in [
                ("GET", "/api/v1/plans/%00", None),  # path
                ("GET", "/api/v1/plans/150000-women%00/check", None),
                ("GET", "/api/v1/aggregates/women/2024?under=15%0000", None),  # query
                ("GET", "/api/v1/plans/150000-women/export?format=json%00", None),
                ("POST", "/api/v1/plans/import",
                 b'{"kind": "women", "title": "\\u89c4\\u0000", "document": {}}'),
                ("POST", "/api/v1/users", b'{"name": "bob\\u0000", "role": "viewer"}'),  # body
                ("POST", "/api/v1/auth/token", b'{"name": "\\u0000", "password": "x"}'),
                ("POST", "/api/v1/plans/150000-women/comments",
                 b'{"unit": "\\u536b\\u5065\\u59d4", "text": "ok\\u0000"}'),
                ("POST", "/api/v1/plans/150000-women/comments",
                 b'{"unit\\u0000": "x", "text": "ok"}'),
                ("PUT", "/api/v1/plans/150000-women/document",
                 b'{"areas": [{"name": "\\u0000"}], "indicators": []}'),
            ]:
                r = await cl.request(method, url, content=body, headers={**h, **JSON})
                err = _error(r)
                assert err["code"] == "invalid_character", (url, err)
                assert err["message"].startswith("请求含有空字符"), err
            # and in the text fields of a multipart form (the plan import)
            r = await cl.post("/api/v1/plans/import", headers=h, data={
                "kind": "women", "title": "规\x00划"}, files={"file": ("t.xlsx", _xlsx())})
            assert _error(r)["code"] == "invalid_character" and "title" in r.text, r.text
            # an escaped backslash before "u0000" is text, not NUL
            r = await cl.post("/api/v1/plans/150000-women/comments", headers=h,
                              json={"unit": "卫健委", "text": "\\u0000 is how JSON writes NUL"})
            assert r.status_code == 201, r.text
            # the protocol's enrolment endpoint answers with a protocol error code
            r = await cl.post("/sync/v1/enroll", json={
                "token": "psi_x", "code": "150600", "name": "鄂尔多斯\x00市", "level": "city",
                "public_key": "A" * 43, "proof": "AAAA"})
            assert _error(r)["code"] in ("malformed_json", "invalid_envelope"), r.text
        assert (await _count(c, User), await _count(c, Plan)) == (users, plans)
        assert await _count(c, PlanComment) == comments + 1
        async with c.rt("150000").sessions() as s:
            new = [a.action for a in (await s.scalars(select(AuditEntry).where(
                AuditEntry.id > audit))).all()]
        # only the one good comment was recorded
        assert new.count("plan.comment") == 1 and "user.create" not in new, new


async def test_strings_longer_than_their_column_are_a_400_naming_the_field(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        h = await _admin(c)
        async with c.client("150000", None) as cl:
            cases: list[tuple[str, str, Any, str]] = [
                ("POST", "/api/v1/plans/import",
                 {"kind": "women", "title": "题" * 301, "document": {}}, "title"),
                ("POST", "/api/v1/plans", {"kind": "women" * 3, "title": "t"}, "kind"),
                ("POST", "/api/v1/children/invites", {"code": "150600", "name": "市" * 201},
                 "name"),
                ("POST", "/api/v1/users", {"name": "u" * 101, "role": "viewer"}, "name"),
                ("POST", "/api/v1/users", {"name": "unit", "role": "member_unit",
                                           "unit": "委" * 101}, "unit"),
                ("POST", "/api/v1/auth/token", {"name": "n" * 101, "password": "x"}, "name"),
            ]
            for method, url, body, field in cases:
                kw: dict[str, Any] = ({"content": body, "headers": {**h, **JSON}}
                                      if isinstance(body, bytes) else {"json": body,
                                                                       "headers": h})
                err = _error(await cl.request(method, url, **kw))
                assert err["code"] == "invalid_request", (url, err)
                assert err["message"].startswith("请求参数无效 invalid request"), err
                assert field in err["message"] and "at most" in err["message"], (url, err)
            # imported documents: an area name longer than report_narratives.area (JSON, XLSX)
            doc = load_file(SAMPLE, "women").dump()
            doc["areas"][0]["name"] = "领" * 101
            r = await cl.post("/api/v1/plans/import", headers=h,
                              json={"kind": "women", "title": "t", "document": doc})
            assert "/areas/0/name" in _error(r)["message"] and "at most 100" in r.text
            r = await cl.post("/api/v1/plans/import", headers=h, data=FORM,
                              files={"file": ("t.xlsx", _xlsx(area="领" * 101))})
            assert "row 2, column A" in _error(r)["message"], r.text
            # a plan exists now; a comment's unit longer than plan_comments.unit
            r = await cl.post("/api/v1/plans/import", headers=h, data=FORM, files={
                "file": ("t.xlsx", write_xlsx(load_file(SAMPLE, "women")))})
            assert r.status_code == 201, r.text
            assert (await cl.post("/api/v1/plans/150000-women/steps/consultation",
                                  headers=h)).status_code == 200
            r = await cl.post("/api/v1/plans/150000-women/comments", headers=h,
                              json={"unit": "委" * 101, "text": "x"})
            assert "unit" in _error(r)["message"]
        assert await _count(c, User) == 1 and await _count(c, Invite) == 0
        assert await _count(c, PlanComment) == 0


async def test_enrolment_request_fields_are_checked_and_nothing_changes(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        rt = c.rt("150000")
        async with transaction(rt.sessions) as s:
            token = await create_invite(session=s, code="150600", name="鄂尔多斯市",
                                        actor="test", ttl=timedelta(hours=1))
        child = Signer.generate()
        good = {"token": token, "code": "150600", "name": "鄂尔多斯市", "level": "city",
                "base_url": "http://n150600.test", "public_key": child.public_key,
                "proof": child.sign(proof_bytes(token, "150600", child.public_key))}
        nodes, audit = await _count(c, KnownNode), await _count(c, AuditEntry)
        async with c.client("150000") as cl:
            for change, pointer in [
                ({"base_url": 8000}, "/base_url"),
                ({"base_url": ["http://x"]}, "/base_url"),
                ({"base_url": "http://n150600.test/" + "p" * 300}, "/base_url"),
                ({"name": "市" * 201}, "/name"),
                ({"name": {"zh": "鄂尔多斯市"}}, "/name"),
                ({"token": 12345}, "/token"),
                ({"code": 150600}, "/code"),
                ({"level": None}, "/level"),
                ({"public_key": "x"}, "/public_key"),
            ]:
                r = await cl.post("/sync/v1/enroll", json=good | change)
                err = _error(r)
                assert (err["code"], err["pointer"]) == ("invalid_envelope", pointer), err
            r = await cl.post("/sync/v1/enroll", json={k: v for k, v in good.items()
                                                       if k != "proof"})
            assert _error(r)["pointer"] == "/proof"
            assert await _count(c, KnownNode) == nodes
            assert await _count(c, AuditEntry) == audit
            async with rt.sessions() as s:
                assert (await s.scalar(select(Invite))).used_at is None  # type: ignore[union-attr]
            # the untouched request still enrols: the token was not spent by the bad ones
            r = await cl.post("/sync/v1/enroll", json=good)
            assert r.status_code == 200, r.text
        async with rt.sessions() as s:
            node = await s.get(KnownNode, "150600")
            assert node is not None and node.base_url == "http://n150600.test"


async def test_integer_parameters_are_bounded(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        h = await _admin(c)
        rt = c.rt("150000")
        async with transaction(rt.sessions) as s:
            await service.create_plan(session=s, code="150000", kind="women", title="规划",
                                      document=load_file(SAMPLE, "women"), actor="test")
        huge = "99999999999999999999"
        async with c.client("150000", None) as cl:
            for url, field in [
                ("/api/v1/audit/timeliness?year=10000", "year"),
                ("/api/v1/audit/timeliness?year=-1", "year"),
                ("/api/v1/audit/timeliness?year=2020", "year"),
                ("/api/v1/audit/timeliness?from_year=-1", "from_year"),
                ("/api/v1/audit/timeliness?from_year=2031", "from_year"),
                (f"/api/v1/audit/timeliness?year={huge}", "year"),
                (f"/api/v1/plans/150000-women/export?version={huge}", "version"),
                ("/api/v1/plans/150000-women/export?version=0", "version"),
                (f"/api/v1/aggregates/women/{huge}", "year"),
                ("/api/v1/aggregates/women/-1", "year"),
                (f"/api/v1/reports/women/{huge}", "year"),
            ]:
                err = _error(await cl.get(url, headers=h))
                assert err["code"] == "invalid_request" and field in err["message"], (url, err)
            for method, url, body in [
                ("PUT", f"/api/v1/reports/women/{huge}/next-year", {"text": "x"}),
                ("PUT", "/api/v1/reports/women/2024/values/W-HEALTH-01", {"value": 1e300}),
                ("PUT", "/api/v1/reports/women/2024/values/W-HEALTH-01",
                 {"numerator": -1e16, "denominator": 1}),
                ("POST", "/api/v1/children/invites",
                 {"code": "150600", "name": "x", "ttl_hours": 10**6}),
                ("POST", "/api/v1/children/invites", {"code": "150600", "name": "x",
                                                      "ttl_hours": 0}),
            ]:
                err = _error(await cl.request(method, url, json=body, headers=h))
                assert err["code"] == "invalid_request", (url, err)
            r = await cl.post("/api/v1/children/invites", headers=h, json={
                "code": "150600", "name": "x", "ttl_hours": int(huge)})
            assert _error(r)["code"] == "malformed_json"  # beyond ±2^53: not even read
            # in range: fine
            r = await cl.get("/api/v1/audit/timeliness?year=2024&from_year=2021", headers=h)
            assert r.status_code == 200, r.text
            r = await cl.get("/api/v1/plans/150000-women/export?version=7", headers=h)
            assert _error(r, 404)["code"] == "not_found"
        assert await _count(c, Invite) == 0


async def test_documents_the_node_could_not_store_are_refused(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        h = await _admin(c)
        sample = load_file(SAMPLE, "women").dump()
        async with c.client("150000", None) as cl:
            imp = "/api/v1/plans/import"
            for body, needle in [
                (b"[]", "body.document"),
                (b"1", "body.document"),
                (b'{"areas": "x"}', "/areas"),
                (b'{"areas": {"women": ["a"]}, "indicators": "x"}', "/indicators"),
                (b'{"areas": {"women": ["a"]}, "indicators": [1]}', "/indicators/0"),
                (json.dumps(sample | {"annual_report_due": "02-30"}).encode(),
                 "annual_report_due"),
                (json.dumps(sample | {"annual_report_due": "99-99"}).encode(),
                 "annual_report_due"),
            ]:
                r = await cl.post(imp, content=b'{"kind": "women", "title": "t", "document": '
                                  + body + b"}", headers={**h, **JSON})
                assert needle in _error(r)["message"], (body[:60], r.text)
            # kind and title belong in the body, never in the query string
            r = await cl.post(imp + "?kind=women&title=t", json=sample, headers=h)
            assert _error(r)["code"] == "invalid_request" and "JSON body" in r.text
            # strict JSON in API bodies: NaN, integers beyond 2^53, lone surrogates, duplicates
            for body in [b'{"name": "a", "role": "viewer", "password": NaN}',
                         b'{"name": "\\ud800", "role": "viewer"}',
                         b'{"name": "a", "name": "b", "role": "viewer"}']:
                r = await cl.post("/api/v1/users", content=body, headers={**h, **JSON})
                assert _error(r)["code"] == "malformed_json", r.text
            big = json.dumps(sample).replace('"target": 12', '"target": 1e400').encode()
            r = await cl.post(imp, content=big, headers={**h, **JSON})
            assert _error(r)["code"] == "malformed_json"
            for target in ("1e400", "nan", "1e300"):
                r = await cl.post("/api/v1/plans/import", headers=h, data=FORM,
                                  files={"file": ("t.xlsx", _xlsx(target=target))})
                assert "row 2, column F" in _error(r)["message"], r.text
            assert (await cl.get("/api/v1/plans", headers=h)).json() == []
            # a plan, then a release date the due-date arithmetic cannot handle
            assert (await cl.post(imp, json=FORM | {"document": sample},
                                  headers=h)).status_code == 201
            r = await cl.put("/api/v1/plans/150000-women/document", headers=h,
                             json=sample | {"annual_report_due": "13-01"})
            assert "annual_report_due" in _error(r)["message"]
            for day in ("9999-12-31", "0001-01-01"):
                r = await cl.post("/api/v1/plans/150000-women/publish", headers=h,
                                  json={"released_on": day})
                assert "released_on" in _error(r)["message"], r.text


def test_openapi_documents_400_with_the_error_shape(tmp_path: Path) -> None:
    cfg = build_config({"code": "150000", "name": "内蒙古自治区", "level": "province",
                        "base_url": "http://127.0.0.1:8000", "data_dir": str(tmp_path),
                        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"})
    doc = create_app(cfg).openapi()
    codes = {code for ops in doc["paths"].values() for op in ops.values()
             for code in op["responses"]}
    assert "422" not in codes and "400" in codes
    op = doc["paths"]["/api/v1/audit/timeliness"]["get"]
    assert op["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    year = next(p for p in op["parameters"] if p["name"] == "year")
    assert year["schema"]["anyOf"][0] == {"type": "integer", "minimum": 2021, "maximum": 2030}
