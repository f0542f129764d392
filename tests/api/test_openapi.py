"""The OpenAPI document is precise enough to generate the web console from (issue #11): every
operation is described and typed, the office API declares its bearer token, errors have one
shape, the plan import is a multipart upload, the protocol endpoints declare the bodies they
read themselves — and what the node really answers matches what the document says.

The first tests read the document only, so an endpoint added without these fails here."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

import sync
from node.app import create_app
from node.auth.service import create_user, issue_token
from node.config import build_config
from node.db import transaction
from node.plans.sheets import load_file, write_xlsx
from node.protocol.enrol import create_invite, proof_bytes
from sync import Signer
from tests.cluster import TREE, Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

ERROR = {"$ref": "#/components/schemas/Error"}
# the office operations without a token: signing in, and signing out (which always succeeds)
OPEN = {"POST /api/v1/auth/token", "POST /api/v1/auth/login", "POST /api/v1/auth/logout"}
# query parameters: codes, numbers and formats only. Text a person types (names, titles,
# comments, reasons) goes in a JSON body; add a name here only if it is not such text.
QUERY_NAMES = {"format", "version", "under", "subtree", "year", "from_year", "after", "limit",
               "page", "size", "level", "kind", "status", "city", "office", "sort", "order",
               "scope", "epoch",  # the feed's: a node's random hex outbox epoch
               "what",  # the audit's filing kind: plan | report | evaluation (a Literal)
               "q"}  # the audit log's search term: a user name, an action or an entity id


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("openapi")
    cfg = build_config({"code": "150000", "name": "内蒙古自治区", "level": "province",
                        "base_url": "http://127.0.0.1:8000", "data_dir": str(tmp),
                        "database_url": f"sqlite+aiosqlite:///{tmp / 'x.db'}"})
    schema: dict[str, Any] = create_app(cfg).openapi()
    return schema


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items()
            for method, op in ops.items()]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {v for k, v in node.items() if k == "$ref"} | {
            r for k, v in node.items() if k != "$ref" for r in _refs(v)}
    if isinstance(node, list):
        return {r for v in node for r in _refs(v)}
    return set()


def test_every_operation_is_described_and_typed(doc: dict[str, Any]) -> None:
    ids: list[str] = []
    for method, path, op in _operations(doc):
        where = f"{method} {path}"
        assert op.get("summary", "").strip(), f"{where}: no summary"
        assert op.get("description", "").strip(), f"{where}: no description (docstring)"
        ids.append(op["operationId"])
        ok = [code for code in op["responses"] if code.startswith("2")]
        assert ok, f"{where}: no success answer documented"
        for code, resp in op["responses"].items():
            content = resp.get("content") or {}
            if code.startswith("2"):
                assert content, f"{where} {code}: no response schema"
                for media, body in content.items():
                    assert body.get("schema"), f"{where} {code} {media}: empty schema"
                if "application/json" in content:  # a named model, or a list of them
                    schema = content["application/json"]["schema"]
                    named = schema if "$ref" in schema else schema.get("items", {})
                    assert set(named) == {"$ref"}, f"{where} {code}: untyped JSON {schema}"
            elif code.startswith("4"):
                assert content == {"application/json": {"schema": ERROR}}, (where, code)
        assert "422" not in op["responses"] and "400" in op["responses"], where
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    names = set(doc["components"]["schemas"])
    missing = {r for r in _refs(doc) if r.rsplit("/", 1)[1] not in names}
    assert not missing and all(r.startswith("#/components/schemas/") for r in _refs(doc))
    assert "x-plansync-component" not in json.dumps(doc)  # placeholders all resolved


def test_the_office_api_declares_its_bearer_token(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    for method, path, op in _operations(doc):
        where = f"{method} {path}"
        if path.startswith("/api/v1/") and where not in OPEN:
            assert op.get("security") == [{"bearer": []}], where
            assert "401" in op["responses"], where
        else:
            assert "security" not in op, where
    token = doc["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"401", "429"} <= set(token) and "Retry-After" in token["429"]["headers"]


def test_text_people_type_is_never_in_a_query_string(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        for p in op.get("parameters", []):
            if p["in"] == "query":
                assert p["name"] in QUERY_NAMES, (method, path, p["name"])


def test_the_plan_import_is_a_multipart_upload_or_json(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/api/v1/plans/import"]["post"]["requestBody"]
    assert body["required"] is True
    form = _resolve(doc, body["content"]["multipart/form-data"]["schema"])
    assert form["properties"]["file"] == {**form["properties"]["file"], "type": "string",
                                          "format": "binary"}
    assert set(form["required"]) == {"kind", "title", "file"}
    plain = _resolve(doc, body["content"]["application/json"]["schema"])
    assert set(plain["required"]) == {"kind", "title", "document"}
    assert plain["properties"]["title"]["maxLength"] == 300
    assert not doc["paths"]["/api/v1/plans/import"]["post"].get("parameters")


def test_protocol_bodies_are_declared(doc: dict[str, Any]) -> None:
    envelope = json.loads((sync.schemas_dir() / "envelope.schema.json").read_text())
    component = doc["components"]["schemas"]["Envelope"]
    assert component["required"] == envelope["required"]
    assert set(component["properties"]) == set(envelope["properties"])
    batch = doc["paths"]["/sync/v1/envelopes"]["post"]["requestBody"]["content"]
    items = batch["application/json"]["schema"]["properties"]["envelopes"]["items"]
    assert items == {"$ref": "#/components/schemas/Envelope"}
    for path, name in [("/sync/v1/enroll", "EnrolRequest"), ("/sync/v1/attest", "AttestRequest")]:
        content = doc["paths"][path]["post"]["requestBody"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
    feed = doc["paths"]["/sync/v1/feed"]["get"]
    assert {p["name"] for p in feed["parameters"] if p["in"] == "header"} == {
        sync.HDR_NODE, sync.HDR_KEY, sync.HDR_DATE, sync.HDR_SIG}


# ---- what the node answers is what the document says --------------------------------------


class Caller:
    """Calls a node and checks each JSON answer against the document's schema for it."""

    def __init__(self, doc: dict[str, Any], client: httpx.AsyncClient) -> None:
        self.doc, self.client = doc, client

    async def __call__(self, method: str, template: str, status: int = 200, *,
                       args: dict[str, Any] | None = None, **kw: Any) -> Any:
        r = await self.client.request(method, template.format(**(args or {})), **kw)
        assert r.status_code == status, (method, template, r.status_code, r.text)
        resp = self.doc["paths"][template][method.lower()]["responses"][str(status)]
        schema = resp["content"]["application/json"]["schema"]
        body = r.json()
        Draft202012Validator({**schema, "components": self.doc["components"]},
                             format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
        return body


async def _tokens(c: Cluster, code: str) -> dict[str, str]:
    async with transaction(c.rt(code).sessions) as s:
        out = {}
        for name, role in (("admin", "admin"), ("director", "reviewer")):
            user = await create_user(session=s, name=name, role=role, password=None,
                                     actor="test")
            out[name] = await issue_token(session=s, user=user, label="t", actor="test")
    return out


async def _publish(call: Caller, tokens: dict[str, str], pid: str) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    for step in ("consultation", "expert_review", "submit"):
        await call("POST", "/api/v1/plans/{plan_id}/steps/{step}",
                   args={"plan_id": pid, "step": step}, headers=admin,
                   json={"note": "按计划推进"} if step == "submit" else None)
    await call("POST", "/api/v1/plans/{plan_id}/steps/{step}", headers={
        "Authorization": f"Bearer {tokens['director']}"}, args={"plan_id": pid,
                                                               "step": "approve"})
    await call("GET", "/api/v1/plans/{plan_id}/check", args={"plan_id": pid}, headers=admin)
    await call("POST", "/api/v1/plans/{plan_id}/publish", args={"plan_id": pid},
               headers={"Authorization": f"Bearer {tokens['director']}"},
               json={"released_on": "2022-03-01"})


async def test_answers_match_the_document(
    tmp_path: Path, db_factory: DbFactory, doc: dict[str, Any]
) -> None:
    async with cluster(tmp_path, db_factory, TREE[:2]) as c:
        prov, city = await _tokens(c, "150000"), await _tokens(c, "150600")
        ph = {"Authorization": f"Bearer {prov['admin']}"}
        ch = {"Authorization": f"Bearer {city['admin']}"}
        async with c.client("150000") as pcl, c.client("150600") as ccl:
            p, ci = Caller(doc, pcl), Caller(doc, ccl)
            # the province imports the framework file as JSON, the city an XLSX task table
            plan = await p("POST", "/api/v1/plans/import", 201, headers=ph, json={
                "kind": "women", "title": "内蒙古自治区妇女发展规划",
                "document": json.loads(SAMPLE.read_text(encoding="utf-8"))})
            assert plan["id"] == "150000-women" and plan["indicators"] > 0
            xlsx = write_xlsx(load_file(SAMPLE, "women"), "鄂尔多斯市妇女发展规划")
            plan = await ci("POST", "/api/v1/plans/import", 201, headers=ch,
                            data={"kind": "women", "title": "鄂尔多斯市妇女发展规划"},
                            files={"file": ("规划.xlsx", xlsx)})
            assert plan["title"] == "鄂尔多斯市妇女发展规划"
            # a raw XLSX body is no longer taken: the answer says how to send it
            r = await ccl.post("/api/v1/plans/import", headers=ch, content=xlsx)
            assert r.status_code == 400 and "multipart/form-data" in r.text
            await _publish(p, prov, "150000-women")
            await c.settle()
            await _publish(ci, city, "150600-women")
            await c.settle()
            for cl, h in ((p, ph), (ci, ch)):
                await cl("GET", "/api/v1/me", headers=h)
                await cl("GET", "/api/v1/plans", headers=h)
                await cl("GET", "/api/v1/keys/transparency", headers=h)
                await cl("GET", "/api/v1/keys/recoveries", headers=h)
                await cl("GET", "/api/v1/audit/verify", headers=h)
                await cl("GET", "/api/v1/audit/timeliness", headers=h)
            detail = await ci("GET", "/api/v1/plans/{plan_id}", args={"plan_id": "150600-women"},
                              headers=ch)
            assert [v["version"] for v in detail["versions"]] == [1]
            export = await ci("GET", "/api/v1/plans/{plan_id}/export",
                              args={"plan_id": "150600-women"}, headers=ch)
            assert export["title"] == "鄂尔多斯市妇女发展规划"
            assert (await ci("GET", "/api/v1/frameworks", headers=ch))[0]["origin"] == "150000"
            (sent,) = await ci("GET", "/api/v1/filings/sent", headers=ch)
            assert sent["outcome"] == "accepted" and sent["receipt"]["filer"] == "150600"
            (filing,) = await p("GET", "/api/v1/filings", headers=ph)
            assert (await p("GET", "/api/v1/children", headers=ph))[0]["code"] == "150600"
            # the city's annual report, filed and aggregated at the province
            mmr = "W-HEALTH-01"
            for method, template, args, body in [
                ("PUT", "/api/v1/reports/{kind}/{year}/values/{code}", {"code": mmr},
                 {"numerator": 3, "denominator": 30000}),
                ("PUT", "/api/v1/reports/{kind}/{year}/narratives/{area}",
                 {"area": "妇女与健康"}, {"text": "孕产妇死亡率持续下降。"}),
                ("PUT", "/api/v1/reports/{kind}/{year}/next-year", {}, {"text": "继续推进。"}),
                ("GET", "/api/v1/reports/{kind}/{year}", {}, None),
            ]:
                await ci(method, template, args={"kind": "women", "year": 2024, **args},
                         headers=ch, json=body)
            filed = await ci("POST", "/api/v1/reports/{kind}/{year}/file",
                             args={"kind": "women", "year": 2024},
                             headers={"Authorization": f"Bearer {city['director']}"})
            assert filed["status"] == "filed"
            await c.settle()
            (received,) = await p("GET", "/api/v1/reports/received", headers=ph)
            assert received["filer"] == "150600" and received["direct"] is True
            compiled = await p("POST", "/api/v1/reports/{kind}/{year}/compile",
                               args={"kind": "women", "year": 2024}, headers=ph)
            assert compiled["aggregated"] >= 1
            figs = await p("GET", "/api/v1/aggregates/{kind}/{year}",
                           args={"kind": "women", "year": 2024}, headers=ph)
            assert next(f for f in figs if f["code"] == mmr)["reported"] == ["150600"]
            await p("GET", "/api/v1/warnings/{kind}", args={"kind": "women"}, headers=ph)
            back = await p("POST", "/api/v1/reports/received/{filing_id}/return",
                           args={"filing_id": received["id"]}, headers=ph,
                           json={"reasons": "请补充说明数据来源"})
            assert back == {"id": received["id"], "outcome": "returned"}
            back = await p("POST", "/api/v1/filings/{filing_id}/return",
                           args={"filing_id": filing["id"]}, headers=ph,
                           json={"reasons": "请补充说明"})
            assert back["outcome"] == "returned"
            await p("GET", "/api/v1/plans/{plan_id}", 404, args={"plan_id": "x"}, headers=ph)
            await p("GET", "/api/v1/me", 401)

            # the protocol: identity, feed, attestations, a batch, an enrolment
            ident = await p("GET", "/sync/v1/identity")
            assert ident["code"] == "150000"
            hdrs = sync.sign_request(c.rt("150600").signer, "150600", "GET",
                                     "/sync/v1/feed?after=0")
            feed = await p("GET", "/sync/v1/feed", params={"after": 0}, headers=hdrs)
            assert feed["entries"], "the province's framework release is in the city's feed"
            nonce = secrets.token_urlsafe(16)
            body = json.dumps({"subject": "150600", "nonce": nonce}).encode()
            hdrs = {**sync.sign_request(c.rt("150600").signer, "150600", "POST",
                                        "/sync/v1/attest", body),
                    "content-type": "application/json"}
            att = await p("POST", "/sync/v1/attest", content=body, headers=hdrs)
            assert [a["attester"] for a in att["attestations"]] == ["150000"]
            await p("POST", "/sync/v1/attest", 401,  # only a signed request of a child
                    json={"subject": "150600", "nonce": nonce})
            envs = [e["envelope"] for e in feed["entries"]]
            results = await ci("POST", "/sync/v1/envelopes", json={"envelopes": [*envs, {}]})
            *known, bad = [r["status"] for r in results["results"]]
            assert "duplicate" in known and set(known) <= {"duplicate", "accepted"}, known
            assert bad == "rejected" and len(known) == len(envs)
            async with transaction(c.rt("150600").sessions) as s:
                token = await create_invite(session=s, code="150603", name="康巴什区",
                                            actor="test", ttl=timedelta(hours=1))
            county = Signer.generate()
            answer = await ci("POST", "/sync/v1/enroll", json={
                "token": token, "code": "150603", "name": "康巴什区", "level": "county",
                "base_url": "http://n150603.test", "public_key": county.public_key,
                "proof": county.sign(proof_bytes(token, "150603", county.public_key))})
            assert [a["code"] for a in answer["ancestors"]] == ["150600", "150000"]
