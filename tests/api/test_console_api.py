"""Issue #12, what the web console stands on: the session cookie (HttpOnly, SameSite=Strict,
expiry, logout, CSRF header), Bearer tokens still working, /me with permissions and node,
users, API tokens, the audit log, the to-do list, and the console and /docs served by the
node with nothing from outside (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from node.auth.service import create_user
from node.config import Settings
from node.db import transaction
from node.models import ApiToken
from sync import utcnow
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory

ONE = [("150000", "内蒙古自治区", "province", None)]
CONSOLE = {"X-Plansync-Console": "1"}


async def _users(c: Cluster) -> None:
    async with transaction(c.rt("150000").sessions) as s:
        await create_user(session=s, name="admin", role="admin", password="admin-pass-1",
                          actor="test")
        await create_user(session=s, name="wsj", role="member_unit", password="member-pass-1",
                          actor="test", unit="卫健委")


async def test_session_cookie_sign_in_csrf_expiry_and_logout(tmp_path: Path,
                                                             db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        await _users(c)
        async with c.client("150000") as cl:
            assert (await cl.get("/api/v1/me")).status_code == 401
            bad = await cl.post("/api/v1/auth/login", json={"name": "admin", "password": "x"})
            assert bad.status_code == 401 and "plansync_session" not in bad.cookies
            r = await cl.post("/api/v1/auth/login",
                              json={"name": "admin", "password": "admin-pass-1"})
            assert r.status_code == 200, r.text
            cookie = r.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
            body = r.json()
            assert body["user"]["role"] == "admin" and body["node"]["code"] == "150000"
            me = (await cl.get("/api/v1/me")).json()
            assert me["name"] == "admin" and "users.manage" in me["permissions"]
            assert me["node"] == {"code": "150000", "name": "内蒙古自治区",
                                  "level": "province", "parent": None}
            # a write with the cookie but without the console's header: refused, nothing made
            w = await cl.post("/api/v1/tokens", json={"label": "script"})
            assert w.status_code == 403 and w.json()["error"]["code"] == "csrf"
            w = await cl.post("/api/v1/tokens", json={"label": "script"}, headers=CONSOLE)
            assert w.status_code == 201
            token = w.json()["token"]
            # the cookie expires on the server too
            async with transaction(c.rt("150000").sessions) as s:
                await s.execute(update(ApiToken).where(ApiToken.kind == "session")
                                .values(expires_at=utcnow() - timedelta(seconds=1)))
            gone = await cl.get("/api/v1/me")
            assert gone.status_code == 401
            assert gone.json()["error"]["code"] == "session_expired"
            # sign in again, then out: the session is revoked and the cookie cleared
            await cl.post("/api/v1/auth/login", json={"name": "admin",
                                                      "password": "admin-pass-1"})
            assert (await cl.get("/api/v1/me")).status_code == 200
            out = await cl.post("/api/v1/auth/logout")
            assert out.status_code == 200 and 'plansync_session=""' in out.headers["set-cookie"]
            assert (await cl.get("/api/v1/me")).status_code == 401
        async with c.client("150000", token) as bearer:  # scripts keep their Bearer tokens
            assert (await bearer.get("/api/v1/me")).json()["name"] == "admin"
            # no console header needed with a Bearer token
            assert (await bearer.post("/api/v1/tokens", json={"label": "x"})).status_code == 201
        async with c.rt("150000").sessions() as s:
            kinds = (await s.scalars(select(ApiToken.kind).where(ApiToken.revoked))).all()
            assert list(kinds) == ["session"]  # the logout revoked exactly its session


async def test_users_tokens_audit_log_and_todo(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        await _users(c)
        async with c.client("150000") as admin, c.client("150000") as member:
            await admin.post("/api/v1/auth/login",
                             json={"name": "admin", "password": "admin-pass-1"})
            await member.post("/api/v1/auth/login",
                              json={"name": "wsj", "password": "member-pass-1"})
            users = (await admin.get("/api/v1/users")).json()
            assert [(u["name"], u["role"], u["unit"]) for u in users] == [
                ("admin", "admin", None), ("wsj", "member_unit", "卫健委")]
            assert (await member.get("/api/v1/users")).status_code == 403
            r = await admin.patch("/api/v1/users/wsj", json={"disabled": True}, headers=CONSOLE)
            assert r.status_code == 200 and r.json()["disabled"] is True
            assert (await member.get("/api/v1/me")).status_code == 401  # disabled: out
            r = await admin.patch("/api/v1/users/admin", json={"role": "viewer"},
                                  headers=CONSOLE)
            assert r.status_code == 400  # no admin demotes themselves
            assert (await admin.patch("/api/v1/users/nobody", json={"disabled": True},
                                      headers=CONSOLE)).status_code == 404
            toks = (await admin.get("/api/v1/tokens")).json()
            assert {t["kind"] for t in toks} == {"session"} and "token" not in toks[0]
            mine = next(t for t in toks if t["user"] == "admin")
            assert (await admin.delete(f"/api/v1/tokens/{mine['id']}",
                                       headers=CONSOLE)).status_code == 200
            assert (await admin.get("/api/v1/me")).status_code == 401  # it was this session
            await admin.post("/api/v1/auth/login",
                             json={"name": "admin", "password": "admin-pass-1"})
            log = (await admin.get("/api/v1/audit/log", params={"q": "user.", "size": 2}))
            page = log.json()
            assert page["total"] == 3 and len(page["items"]) == 2  # 2 creates, 1 update
            assert page["items"][0]["action"] == "user.update"
            assert page["items"][0]["at"].endswith("Z")
            # the search is text as typed: % and _ are not wildcards
            assert (await admin.get("/api/v1/audit/log", params={"q": "%"})).json()["total"] == 0
            assert (await admin.get("/api/v1/audit/log", params={"q": "user_"})).json()[
                "total"] == 0
            todo = (await admin.get("/api/v1/todo"))
            assert todo.status_code == 200 and isinstance(todo.json(), list)


async def test_console_and_docs_are_served_by_the_node(tmp_path: Path,
                                                      db_factory: DbFactory) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><div id="app"></div>'
                                     '<script type="module" src="/assets/app-1.js"></script>')
    (dist / "assets" / "app-1.js").write_text("console.log(1);\n" * 500)
    settings = Settings(delivery_loop=False, pull_interval_seconds=3600, console_dir=dist)
    async with cluster(tmp_path, db_factory, ONE, settings=settings) as c:
        async with c.client("150000") as cl:
            for path in ("/", "/plans/150000-women", "/filings/children"):
                r = await cl.get(path)
                assert r.status_code == 200 and '<div id="app">' in r.text, path
                assert "default-src 'self'" in r.headers["content-security-policy"]
            a = await cl.get("/assets/app-1.js", headers={"accept-encoding": "gzip"})
            assert a.status_code == 200 and "immutable" in a.headers["cache-control"]
            assert a.headers["content-encoding"] == "gzip" and a.text.count("console.log") == 500
            assert (await cl.get("/assets/missing.js")).status_code == 404
            api404 = await cl.get("/api/v1/no-such-thing")
            assert api404.status_code == 404 and api404.json()["error"]["code"]
            docs = await cl.get("/docs")
            assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
            assert "cdn" not in docs.text.lower() and "https://" not in docs.text.replace(
                "https://fastapi.tiangolo.com", "")
            assert (await cl.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
            assert (await cl.get("/redoc")).text.count("<div id=\"app\">") == 1  # no CDN page
    missing = Settings(delivery_loop=False, pull_interval_seconds=3600,
                       console_dir=tmp_path / "none")
    async with cluster(tmp_path / "b", db_factory, ONE, settings=missing) as c:
        async with c.client("150000") as cl:
            r = await cl.get("/")
            assert r.status_code == 200 and "./scripts/build-console" in r.text
            assert (await cl.get("/healthz")).json() == {"status": "ok"}
