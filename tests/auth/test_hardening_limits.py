"""Issue #10, rate limits: repeated wrong passwords lock the user name; repeated unknown
enrolment tokens lock the client address. 429 ``too_many_attempts`` with Retry-After and a
message saying when to retry (Chinese first); an audit entry for each lockout; kept in the
database, so a second replica on the same database refuses too. Invites never start expired."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update

from node.app import create_app
from node.auth.service import create_user
from node.config import Settings
from node.db import transaction
from node.models import AuditEntry, Invite, KnownNode
from node.protocol.enrol import create_invite, proof_bytes
from sync import Signer, utcnow
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.procs import run_cli

ONE = [("150000", "内蒙古自治区", "province", None)]
SETTINGS = Settings(delivery_loop=False, pull_interval_seconds=3600, enrol_max_failures=3)


async def _audits(c: Cluster, action: str) -> list[AuditEntry]:
    async with c.rt("150000").sessions() as s:
        return list((await s.scalars(select(AuditEntry).where(
            AuditEntry.action == action))).all())


def _locked(r: httpx.Response, first: str, lockout: int = 900) -> None:
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == "too_many_attempts", err
    assert err["message"].startswith(first), err
    assert "try again in" in err["message"], err
    assert 0 < int(r.headers["Retry-After"]) <= lockout


async def test_failed_logins_lock_the_account(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        rt = c.rt("150000")
        async with transaction(rt.sessions) as s:
            for name in ("alice", "bob"):
                await create_user(session=s, name=name, role="viewer",
                                  password="correct horse", actor="test")
        url = "/api/v1/auth/token"
        async with c.client("150000") as cl:
            for _ in range(4):
                r = await cl.post(url, json={"name": "alice", "password": "wrong"})
                assert r.status_code == 401, r.text
            r = await cl.post(url, json={"name": "alice", "password": "wrong"})
            _locked(r, "登录失败次数过多")  # the 5th within 15 minutes locks
            assert "alice" in r.json()["error"]["message"]
            r = await cl.post(url, json={"name": "alice", "password": "correct horse"})
            _locked(r, "登录失败次数过多")  # even the right password, while locked
            # other accounts are not affected; a success forgets earlier failures
            for _ in range(4):
                assert (await cl.post(url, json={"name": "bob", "password": "x"})
                        ).status_code == 401
            assert (await cl.post(url, json={"name": "bob", "password": "correct horse"})
                    ).status_code == 200
            assert (await cl.post(url, json={"name": "bob", "password": "x"})).status_code == 401
        (entry,) = await _audits(c, "login.lockout")
        assert entry.entity_id == "login:alice" and entry.after["failures"] == 5
        assert entry.actor == "client:127.0.0.1"
        # the lockout is in the database: another replica on it refuses alice too
        app2 = create_app(c.cfgs["150000"], c.settings, dispatch=False)
        async with app2.router.lifespan_context(app2), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app2), base_url="http://replica") as cl2:
            r = await cl2.post(url, json={"name": "alice", "password": "correct horse"})
            _locked(r, "登录失败次数过多")
            # when the lockout has ended, the right password works again
            from node.models import AuthFailure, AuthLockout

            async with transaction(rt.sessions) as s:
                await s.execute(update(AuthLockout).values(locked_until=utcnow()))
            r = await cl2.post(url, json={"name": "alice", "password": "correct horse"})
            assert r.status_code == 200, r.text
        async with rt.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(AuthFailure).where(
                AuthFailure.subject == "alice")) == 0
        # an admin lifts a lockout early: bob (1 failure since his success) fails 4 more times
        async with c.client("150000") as cl:
            for _ in range(4):
                r = await cl.post(url, json={"name": "bob", "password": "x"})
            _locked(r, "登录失败次数过多")
            out = run_cli("users", "unlock", "bob", "--data-dir",
                          str(c.cfgs["150000"].data_dir)).stdout
            assert "unlocked" in out
            r = await cl.post(url, json={"name": "bob", "password": "correct horse"})
            assert r.status_code == 200, r.text
        (entry,) = await _audits(c, "login.unlock")
        assert entry.entity_id == "login:bob" and entry.actor == "cli"


def _enrol_body(token: str, code: str = "150600") -> dict[str, Any]:
    child = Signer.generate()
    return {"token": token, "code": code, "name": "鄂尔多斯市", "level": "city",
            "base_url": f"http://n{code}.test", "public_key": child.public_key,
            "proof": child.sign(proof_bytes(token, code, child.public_key))}


async def test_enrolment_token_guesses_are_limited_per_address(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, ONE, settings=SETTINGS) as c:
        rt = c.rt("150000")
        async with transaction(rt.sessions) as s:
            token = await create_invite(session=s, code="150600", name="鄂尔多斯市",
                                        actor="test", ttl=timedelta(hours=1))
        guesser = httpx.AsyncClient(base_url="http://n150000.test",
                                    transport=httpx.ASGITransport(
                                        app=c.apps["150000"], client=("203.0.113.7", 40000)))
        async with guesser, c.client("150000") as office:
            for _ in range(2):
                r = await guesser.post("/sync/v1/enroll",
                                       json=_enrol_body("psi_" + secrets.token_urlsafe(24)))
                assert r.status_code == 403 and r.json()["error"]["code"] == "token_invalid"
            r = await guesser.post("/sync/v1/enroll",
                                   json=_enrol_body("psi_" + secrets.token_urlsafe(24)))
            _locked(r, "注册令牌错误次数过多", 3600)  # the 3rd (PLANSYNC_ENROL_MAX_FAILURES=3)
            assert "203.0.113.7" in r.json()["error"]["message"]
            # locked: even the real token is refused from that address, and not spent
            r = await guesser.post("/sync/v1/enroll", json=_enrol_body(token))
            _locked(r, "注册令牌错误次数过多", 3600)
            # another address enrols with it
            r = await office.post("/sync/v1/enroll", json=_enrol_body(token))
            assert r.status_code == 200, r.text
        (entry,) = await _audits(c, "enrol.lockout")
        assert entry.entity_id == "enrol:203.0.113.7" and entry.after["failures"] == 3
        async with rt.sessions() as s:
            assert (await s.get(KnownNode, "150600")) is not None


async def test_invites_never_start_expired(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        ddir = str(c.cfgs["150000"].data_dir)
        p = run_cli("children", "invite", "150600", "--name", "鄂尔多斯市", "--ttl-hours", "0",
                    "--data-dir", ddir, check=False)
        assert p.returncode == 2 and "--ttl-hours" in p.stderr, p.stderr
        p = run_cli("children", "invite", "150600", "--name", "鄂尔多斯市", "--ttl-hours", "-5",
                    "--data-dir", ddir, check=False)
        assert p.returncode == 2, p.stderr
        async with c.rt("150000").sessions() as s:
            assert (await s.scalars(select(Invite))).all() == []
        token = run_cli("children", "invite", "150600", "--name", "鄂尔多斯市", "--ttl-hours",
                        "1", "--data-dir", ddir).stdout.strip()
        assert token.startswith("psi_")
        async with c.rt("150000").sessions() as s:
            (inv,) = (await s.scalars(select(Invite))).all()
            assert inv.expires_at > utcnow()
