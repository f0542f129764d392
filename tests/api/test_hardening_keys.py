"""Issue #10, key rotation: over the API it works on SQLite (whose single pooled connection
the request used to hold while the rotation waited 60 s for another one) and PostgreSQL; a
failed rotation leaves no ``*.new.pem``; a rotation by the CLI takes effect in the running
``serve`` of the same data directory before it signs again."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from node.app import create_app
from node.auth.service import create_user, issue_token
from node.db import transaction
from node.errors import Conflict
from node.models import Filing, NodeKey, OutboxRow, OwnKey, SentFiling
from node.plans.sheets import load_file
from node.protocol.keys import rotate_key
from node.runtime import NodeRuntime
from sync import Signer, utcnow
from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.plans.test_plans_flow import draft_and_approve, publish, today
from tests.procs import run_cli

TWO = [("150000", "内蒙古自治区", "province", None), ("150600", "鄂尔多斯市", "city", "150000")]


def _pending(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.glob("*.new.pem"))


async def _parent_keys(c: object, code: str) -> dict[str, object]:
    async with c.rt("150000").sessions() as s:  # type: ignore[attr-defined]
        return {k.key_id: k.valid_until for k in (await s.scalars(
            select(NodeKey).where(NodeKey.code == code))).all()}


async def test_rotate_over_the_api(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, TWO) as c:
        rt = c.rt("150600")
        old = rt.signer.key_id
        async with transaction(rt.sessions) as s:
            admin = await create_user(session=s, name="admin", role="admin", password=None,
                                      actor="test")
            token = await issue_token(session=s, user=admin, label="t", actor="test")
        started = time.monotonic()
        async with c.client("150600", token) as cl:
            r = await cl.post("/api/v1/keys/rotate", timeout=20)
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 10  # it used to wait 60 s for the pool
            new = r.json()["key_id"]
            assert r.json()["previous_key_id"] == old and new != old
            assert (await cl.get("/sync/v1/identity")).json()["key_id"] == new
        ddir = c.cfgs["150600"].data_dir
        assert _pending(ddir) == []
        assert (ddir / f"node_key.{old}.retired.pem").exists()
        assert Signer.load(ddir / "node_key.pem").key_id == new
        async with rt.sessions() as s:
            own = {k.key_id: k.retired_at for k in (await s.scalars(select(OwnKey))).all()}
        assert own[old] is not None and own[new] is None
        await c.settle()
        keys = await _parent_keys(c, "150600")
        assert keys[new] is None and keys[old] is not None  # the parent took the rotation


async def test_a_failed_rotation_leaves_no_pending_key(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TWO) as c:
        cfg = c.cfgs["150600"]
        before = (cfg.data_dir / "node_key.pem").read_bytes()
        # the database is unreachable (a CLI run with a wrong database URL)
        gone = cfg.model_copy(update={"database_url":
                                      f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db"})
        rt = NodeRuntime.open(gone)
        try:
            with pytest.raises(Exception, match="unable to open database file"):
                await rotate_key(rt)
        finally:
            await rt.close()
        assert _pending(cfg.data_dir) == []
        # another process rotated meanwhile: this key is retired already
        served = c.rt("150600")
        async with transaction(served.sessions) as s:
            await s.execute(update(OwnKey).values(retired_at=utcnow()))
            queued = len((await s.scalars(select(OutboxRow))).all())
        with pytest.raises(Conflict, match="rotated by another process"):
            await rotate_key(served)
        assert _pending(cfg.data_dir) == []
        assert (cfg.data_dir / "node_key.pem").read_bytes() == before
        async with served.sessions() as s:  # nothing queued
            assert len((await s.scalars(select(OutboxRow))).all()) == queued


async def test_cli_rotation_takes_effect_in_the_running_node(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, TWO) as c:
        served = c.rt("150600")
        old = served.signer.key_id
        # `plansync keys rotate` on the city's data directory while its app is serving
        out = run_cli("keys", "rotate", "--data-dir", str(c.cfgs["150600"].data_dir)).stdout
        assert "key rotated" in out
        new = served.signer.key_id
        assert new != old and new in out
        # the served app's next filing is signed with the new key and the parent accepts it
        pid = await draft_and_approve(c, "150600", load_file(SAMPLE, "women"), "鄂尔多斯市规划")
        await publish(c, "150600", pid, today() - timedelta(days=3))
        async with c.rt("150000").sessions() as s:
            (filing,) = (await s.scalars(select(Filing))).all()
        assert filing.filer == "150600" and filing.outcome == "accepted"
        async with served.sessions() as s:
            (sent,) = (await s.scalars(select(SentFiling))).all()
            assert sent.outcome == "accepted"
            dead = (await s.scalars(select(OutboxRow).where(OutboxRow.status == "dead"))).all()
        assert dead == []
        keys = await _parent_keys(c, "150600")
        assert keys[new] is None and keys[old] is not None


async def test_an_interrupted_rotation_is_finished_or_removed_at_start(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    from node.protocol.keys import STALE_PENDING_SECONDS

    async with cluster(tmp_path, db_factory, TWO[:1]) as c:
        cfg, rt = c.cfgs["150000"], c.rt("150000")
        old = rt.signer
        # committed, then the process died before moving the key into place
        committed = Signer.generate()
        committed.save(cfg.data_dir / f"node_key.{committed.key_id}.new.pem")
        async with transaction(rt.sessions) as s:
            await s.execute(update(OwnKey).values(retired_at=utcnow()))
            s.add(OwnKey(key_id=committed.key_id, public_key=committed.public_key,
                         created_at=utcnow()))
        # never committed, long ago
        abandoned = Signer.generate()
        stale = cfg.data_dir / f"node_key.{abandoned.key_id}.new.pem"
        abandoned.save(stale)
        past = time.time() - STALE_PENDING_SECONDS - 60
        os.utime(stale, (past, past))
        app = create_app(cfg, c.settings, dispatch=False)
        async with app.router.lifespan_context(app):
            assert app.state.rt.signer.key_id == committed.key_id
        assert _pending(cfg.data_dir) == []
        assert Signer.load(cfg.key_path).key_id == committed.key_id
        assert (cfg.data_dir / f"node_key.{old.key_id}.retired.pem").exists()
