"""A movable data directory (issue 15): node.json stores the paths inside the data directory
relative to it, so a copied or restored directory runs on its own database and never writes
to the original; a missing database file is said to be missing (never silently recreated)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx

from tests.cli.test_operator_errors import one_error
from tests.procs import Proc, free_port, run_cli


def init(ddir: Path, db_url: str | None = None) -> None:
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--data-dir", str(ddir), *(("--database-url", db_url) if db_url else ()))


def users(ddir: Path) -> str:
    return run_cli("users", "list", "--data-dir", str(ddir)).stdout


def test_node_json_stores_the_database_relative(tmp_path: Path, db_url: str) -> None:
    ddir = tmp_path / "n"
    init(ddir, db_url if db_url.startswith("postgresql") else None)
    stored = json.loads((ddir / "node.json").read_text())
    if db_url.startswith("postgresql"):
        assert stored["database_url"] == db_url  # a server URL is kept as given
    else:
        assert stored["database_url"] == "sqlite+aiosqlite:///plansync.db"
        assert str(tmp_path) not in (ddir / "node.json").read_text()


def test_copied_directory_runs_on_its_own(tmp_path: Path) -> None:
    orig, copy = tmp_path / "orig", tmp_path / "moved" / "copy"
    init(orig)
    run_cli("users", "add", "alice", "--role", "admin", "--data-dir", str(orig))
    shutil.copytree(orig, copy)
    # the copy never writes to the original
    run_cli("users", "add", "bob", "--role", "admin", "--data-dir", str(copy))
    assert "bob" in users(copy) and "bob" not in users(orig)
    # the original may go: the copy runs alone (CLI and serve)
    shutil.rmtree(orig)
    assert "alice" in users(copy)
    p = Proc(copy, free_port())
    try:
        p.wait_ready()
        assert httpx.get(f"{p.url}/readyz").json()["checks"]["database"] == "ok"
    finally:
        p.stop()
    assert not orig.exists()  # nothing recreated the original's database


def test_old_absolute_config_keeps_working_and_is_migrated(tmp_path: Path) -> None:
    """A node.json written by an older plansync holds the absolute SQLite path."""
    orig, copy = tmp_path / "orig", tmp_path / "copy"
    init(orig)
    cfg = json.loads((orig / "node.json").read_text())
    cfg["database_url"] = f"sqlite+aiosqlite:///{(orig / 'plansync.db').resolve()}"
    (orig / "node.json").write_text(json.dumps(cfg))
    shutil.copytree(orig, copy)
    # in place: it works, and node.json now stores the path relative
    run_cli("users", "add", "alice", "--role", "admin", "--data-dir", str(orig))
    assert json.loads((orig / "node.json").read_text())["database_url"] == \
        "sqlite+aiosqlite:///plansync.db"
    # the copy still names the original's file: it uses its own one instead
    run_cli("users", "add", "bob", "--role", "admin", "--data-dir", str(copy))
    assert "bob" in users(copy) and "bob" not in users(orig)
    assert json.loads((copy / "node.json").read_text())["database_url"] == \
        "sqlite+aiosqlite:///plansync.db"
    # an absolute path outside any data directory is the operator's choice: kept
    elsewhere = tmp_path / "db" / "node.sqlite"
    elsewhere.parent.mkdir()
    shutil.copy(copy / "plansync.db", elsewhere)
    cfg["database_url"] = f"sqlite+aiosqlite:///{elsewhere}"
    (copy / "node.json").write_text(json.dumps(cfg))
    assert "bob" in users(copy)
    assert json.loads((copy / "node.json").read_text())["database_url"] == cfg["database_url"]


def test_missing_database_file_is_said_not_recreated(tmp_path: Path) -> None:
    ddir = tmp_path / "n"
    init(ddir)
    (ddir / "plansync.db").unlink()
    for args in (["users", "list"], ["serve", "--port", str(free_port())], ["db", "upgrade"],
                 ["audit", "verify"]):
        line = one_error(run_cli(*args, "--data-dir", str(ddir), check=False),
                         "database file", "plansync.db is missing")
        assert "db upgrade" not in line
    assert not (ddir / "plansync.db").exists()  # no empty database took its place


def test_relative_database_url_on_the_command_line_means_the_working_directory(
        tmp_path: Path) -> None:
    import subprocess

    from tests.procs import PLANSYNC

    p = subprocess.run([*PLANSYNC, "init", "--code", "150000", "--name", "内蒙古自治区",
                        "--level", "province", "--data-dir", "dd", "--database-url",
                        "sqlite+aiosqlite:///dd/own.db"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "dd" / "own.db").exists()
    assert json.loads((tmp_path / "dd" / "node.json").read_text())["database_url"] == \
        "sqlite+aiosqlite:///own.db"
    assert "no users yet" in users(tmp_path / "dd")  # from another working directory
