from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, update

from node.audit.verify import parse_anchor, verify_chain
from node.auth.service import create_user, issue_token
from node.db import transaction
from node.models import AuditEntry
from tests.cluster import cluster
from tests.conftest import DbFactory

ONE = [("150000", "内蒙古自治区", "province", None)]


async def _token(c, role: str, name: str) -> str:  # type: ignore[no-untyped-def]
    rt = c.rt("150000")
    async with transaction(rt.sessions) as session:
        user = await create_user(session=session, name=name, role=role, password="correct horse",
                                 actor="test")
        return await issue_token(session=session, user=user, label="t", actor="test")


async def test_protected_endpoints_401_and_403(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        admin = await _token(c, "admin", "alice")
        viewer = await _token(c, "viewer", "victor")
        body = {"name": "bob", "role": "editor"}
        async with c.client("150000") as anon:
            r = await anon.post("/api/v1/users", json=body)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
            r = await anon.post("/api/v1/users", json=body,
                                headers={"Authorization": "Bearer pst_forged"})
            assert r.status_code == 401
            for path, payload in [("/api/v1/users", body),
                                  ("/api/v1/children/invites", {"code": "150600", "name": "x"}),
                                  ("/api/v1/keys/rotate", None)]:
                r = await anon.post(path, json=payload,
                                    headers={"Authorization": f"Bearer {viewer}"})
                assert r.status_code == 403, path
                assert r.json()["error"]["code"] == "forbidden"
        async with c.client("150000", admin) as cl:
            r = await cl.post("/api/v1/users", json=body)
            assert r.status_code == 201, r.text
            assert r.json()["user"]["role"] == "editor"
            r = await cl.post("/api/v1/users", json=body)
            assert r.status_code == 409
            r = await cl.post("/api/v1/users", json={"name": "eve", "role": "king"})
            assert r.status_code == 400 and "unknown role" in r.json()["error"]["message"]
        async with c.client("150000") as anon:
            r = await anon.post("/api/v1/auth/token",
                                json={"name": "alice", "password": "correct horse"})
            assert r.status_code == 200
            tok = r.json()["token"]
            r = await anon.get("/api/v1/me", headers={"Authorization": f"Bearer {tok}"})
            assert r.json()["name"] == "alice"
            r = await anon.post("/api/v1/auth/token", json={"name": "alice", "password": "nope"})
            assert r.status_code == 401


async def test_audit_chain_detects_modified_and_deleted_rows(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        rt = c.rt("150000")
        for i in range(5):
            await _token(c, "viewer", f"user{i}")
        async with rt.sessions() as s:
            rep = await verify_chain(session=s)
        assert rep.ok and rep.rows == 10  # user.create + token.issue each
        async with transaction(rt.sessions) as s:
            await s.execute(update(AuditEntry).where(AuditEntry.id == 3)
                            .values(actor="mallory"))
        async with rt.sessions() as s:
            rep = await verify_chain(session=s)
        assert not rep.ok
        assert any(p.startswith("row 3 modified") for p in rep.problems), rep.problems
        async with transaction(rt.sessions) as s:
            await s.execute(update(AuditEntry).where(AuditEntry.id == 3).values(actor="test"))
            await s.execute(delete(AuditEntry).where(AuditEntry.id == 6))
        async with rt.sessions() as s:
            rep = await verify_chain(session=s)
        assert rep.problems == ["row 6 deleted: the chain jumps to row 7"]


async def test_audit_anchor_detects_deleted_newest_rows(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        rt = c.rt("150000")
        for i in range(3):
            await _token(c, "viewer", f"user{i}")
        async with rt.sessions() as s:
            rep = await verify_chain(session=s)
        assert rep.ok and rep.anchor == f"6:{rep.head}"
        anchor = parse_anchor(rep.anchor)
        await _token(c, "viewer", "later")  # the chain grows past the anchor: still fine
        async with rt.sessions() as s:
            assert (await verify_chain(session=s, expect=anchor)).ok
        # the newest rows deleted: intact in itself, caught by the anchor
        async with transaction(rt.sessions) as s:
            await s.execute(delete(AuditEntry).where(AuditEntry.id >= 5))
        async with rt.sessions() as s:
            assert (await verify_chain(session=s)).ok
            rep = await verify_chain(session=s, expect=anchor)
        assert rep.problems == ["rows 5–6 deleted: the chain ends at row 4, before the "
                                "recorded head 6"]
        with pytest.raises(ValueError, match="expected <row id>:<64 hex digits>"):
            parse_anchor("6:xyz")


async def test_ops_endpoints(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c, c.client("150000") as cl:
        assert (await cl.get("/healthz")).json() == {"status": "ok"}
        r = await cl.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
        ident = (await cl.get("/sync/v1/identity")).json()
        assert ident["code"] == "150000" and ident["protocol_version"] == 1
        assert ident["public_key"] == c.rt("150000").signer.public_key
        r = await cl.get("/healthz", headers={"X-Request-ID": "abc123"})
        assert r.headers["X-Request-ID"] == "abc123"
        metrics = (await cl.get("/metrics")).text
        assert 'plansync_http_requests_total{method="GET",route="/healthz",status="200"}' \
            in metrics
        assert "plansync_outbox_depth" in metrics
        assert (await cl.get("/openapi.json")).json()["paths"]["/sync/v1/envelopes"]
        assert (await cl.get("/docs")).status_code == 200


@pytest.mark.parametrize("missing", ["redis"])
async def test_readyz_reports_unreachable_redis(tmp_path: Path, missing: str) -> None:
    from node.app import create_app
    from tests.cluster import make_node_config

    cfg = await make_node_config(tmp_path, "150000", "内蒙古自治区", "province", None,
                                 f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
                                 redis_url="redis://127.0.0.1:1/0")
    app = create_app(cfg, dispatch=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as cl:
            r = await cl.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"].startswith("unreachable")
