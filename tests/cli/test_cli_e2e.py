"""`plansync init` + `plansync serve` as real processes on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.conftest import DbFactory
from tests.procs import Proc, free_port, run_cli


async def test_init_serve_identity_real_process(tmp_path: Path, db_url: str) -> None:
    ddir = tmp_path / "prov"
    port = free_port()
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--base-url", f"http://127.0.0.1:{port}", "--database-url", db_url,
            "--data-dir", str(ddir))
    mode = stat.S_IMODE(os.stat(ddir / "node_key.pem").st_mode)
    assert mode == 0o600
    p = Proc(ddir, port)
    try:
        p.wait_ready()
        async with httpx.AsyncClient(base_url=p.url) as cl:
            assert (await cl.get("/healthz")).json()["status"] == "ok"
            assert (await cl.get("/readyz")).json()["checks"] == {"database": "ok"}
            ident = (await cl.get("/sync/v1/identity")).json()
            assert ident["code"] == "150000" and ident["level"] == "province"
            assert len(ident["public_key"]) == 43
    finally:
        p.stop()
    out = run_cli("users", "add", "alice", "--role", "admin", "--data-dir", str(ddir))
    assert "API token" in out.stdout
    bad = run_cli("users", "add", "bob", "--role", "king", "--data-dir", str(ddir), check=False)
    assert bad.returncode != 0 and "unknown role" in bad.stderr
    listed = run_cli("users", "list", "--data-dir", str(ddir)).stdout  # the hints name it
    assert "alice\t管理员 (admin)" in listed and "bob" not in listed
    assert "audit chain intact" in run_cli("audit", "verify", "--data-dir", str(ddir)).stdout


async def test_serve_refuses_schema_behind(tmp_path: Path, db_factory: DbFactory) -> None:
    ddir = tmp_path / "c"
    run_cli("init", "--code", "150603", "--name", "康巴什区", "--level", "county",
            "--parent-url", "http://127.0.0.1:9", "--data-dir", str(ddir),
            "--database-url", await db_factory())
    empty = await db_factory()
    if empty.startswith("sqlite"):  # an empty database: the file exists (a missing file is
        Path(empty.split("///", 1)[1]).touch()  # refused, tests/cli/test_data_dir.py)
    p = run_cli("serve", "--data-dir", str(ddir), "--port", str(free_port()),
                env={"PLANSYNC_DATABASE_URL": empty}, check=False)
    assert p.returncode == 1
    assert "run `plansync db upgrade`" in p.stderr
    run_cli("db", "upgrade", "--data-dir", str(ddir), env={"PLANSYNC_DATABASE_URL": empty})
    # now the same database is current: audit verify works against it
    out = run_cli("audit", "verify", "--data-dir", str(ddir),
                  env={"PLANSYNC_DATABASE_URL": empty}).stdout
    anchor = out.split("--expect): ")[1].split()[0]
    run_cli("audit", "verify", "--expect", anchor, "--data-dir", str(ddir),
            env={"PLANSYNC_DATABASE_URL": empty})
    p = run_cli("audit", "verify", "--expect", "9:" + "0" * 64, "--data-dir", str(ddir),
                env={"PLANSYNC_DATABASE_URL": empty}, check=False)
    assert p.returncode == 1 and "before the recorded head 9" in p.stdout
    p = run_cli("audit", "verify", "--expect", "junk", "--data-dir", str(ddir),
                env={"PLANSYNC_DATABASE_URL": empty}, check=False)
    assert p.returncode == 2 and "not an audit anchor" in p.stderr


def test_bad_init_is_rejected_and_writes_nothing(tmp_path: Path) -> None:
    ddir = tmp_path / "x"
    p = run_cli("init", "--code", "15060", "--name", "x", "--level", "county",
                "--parent-url", "http://127.0.0.1:9", "--data-dir", str(ddir), check=False)
    assert p.returncode == 2 and "6-digit GB/T 2260" in p.stderr
    p = run_cli("init", "--code", "150603", "--name", "x", "--level", "town",
                "--data-dir", str(ddir), check=False)
    assert p.returncode == 2 and "level" in p.stderr
    assert not ddir.exists()
    p = run_cli("serve", "--data-dir", str(ddir), check=False)
    assert p.returncode == 2 and "run `plansync init" in p.stderr
    assert run_cli("--version").stdout.startswith("plansync ")
