"""Errors a person reads (issue 15): each ordinary mistake, made with the real `plansync`
command, ends in exactly one `错误 error:` line saying what is wrong and what to do, a
non-zero exit, no Python traceback, and nothing half-made left behind."""

from __future__ import annotations

import ast
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DbFactory
from tests.paths import ROOT, SAMPLE
from tests.procs import free_port, run_cli
from tests.services import PG_ADMIN

pytestmark = pytest.mark.timeout(300)


def one_error(p: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single `错误 error:` line of a failed command (with every needle in it)."""
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "Traceback" not in out, out
    lines = [ln for ln in out.splitlines() if ln.startswith("错误 error:")]
    assert len(lines) == 1, out
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def init_province(ddir: Path, db_url: str | None = None, *extra: str) -> None:
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--data-dir", str(ddir), *(("--database-url", db_url) if db_url else ()), *extra)


def pg_url(user: str = "postgres", db: str = "postgres", port: int = 5432) -> str:
    host = PG_ADMIN.split("@", 1)[1].split("/", 1)[0].split(":")[0]
    return f"postgresql+asyncpg://{user}@{host}:{port}/{db}"


# -- init -----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(("url", "needle"), [
    (pg_url(port=1), "cannot reach the database server"),
    (pg_url(db=f"plansync_missing_{uuid.uuid4().hex[:8]}"), "database does not exist"),
    (pg_url(user=f"nobody_{uuid.uuid4().hex[:8]}"), "refused the user"),
])
async def test_failed_init_says_why_and_leaves_nothing(tmp_path: Path, db_url: str, url: str,
                                                       needle: str) -> None:
    ddir = tmp_path / "prov"
    line = one_error(run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level",
                             "province", "--database-url", url, "--data-dir", str(ddir),
                             check=False), needle, url.split("//", 1)[1].split("@")[0])
    assert "database URL" in line
    assert not ddir.exists()  # no node.json, no key: the retry is not "already exists"
    # a data directory that existed keeps only what it held
    ddir.mkdir()
    (ddir / "notes.txt").write_text("keep me")
    one_error(run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level",
                      "province", "--database-url", url, "--data-dir", str(ddir),
                      check=False), needle)
    assert sorted(p.name for p in ddir.iterdir()) == ["notes.txt"]
    init_province(ddir, db_url)  # fixed: the same command now works (SQLite and PostgreSQL)
    assert (ddir / "node.json").exists() and (ddir / "node_key.pem").exists()


# -- a wrong database URL, for every command -------------------------------------------------


def _leaf_commands() -> Iterator[tuple[list[str], Any]]:
    import typer.main

    from node.cli import app

    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    yield from walk(typer.main.get_command(app), [])


VALUES = {"year": "2025", "kind": "women", "released_on": "2022-05-10"}


def _dummy_args(cmd: Any, folder: Path) -> list[str]:
    """Values for a command's required parameters (valid enough to reach the database)."""
    args: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        kind = p.type_descriptor.annotation
        value = {int: "1", float: "1"}.get(kind, "x")
        if kind is Path:  # an output file of the suffix the command writes
            value = str(folder / ("o.docx" if "docx" in (p.help or "") else "o.xlsx"))
        value = VALUES.get(str(p.name), value)
        if getattr(p, "param_type_name", "") == "argument":
            args.append(value)
        else:
            args += [p.opts[0], value]
    return args


# commands that stop, rightly, before they open the database with these dummy values
NOT_REACHING_THE_DATABASE = {
    ("worker",): "no redis_url configured",
    ("restore",): "",  # reads the backup file first
    ("framework", "import"): "",  # reads the file first
    ("tasks", "import"): "",  # reads the file first
    ("reminders", "configure"): "",  # without an option there is nothing to change
}


@pytest.mark.postgres
@pytest.mark.parametrize("bad", ["sqlite-missing", "pg-unreachable"])
def test_wrong_database_url_for_every_command(tmp_path: Path, bad: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    """One central place turns a wrong PLANSYNC_DATABASE_URL into one line, whatever the
    command: every command that takes --data-dir is run through the `plansync` entry point
    (in this process, to keep the sweep fast; a few also as real processes below)."""
    from node.cli import main

    ddir = tmp_path / "n"
    init_province(ddir)
    url = (f"sqlite+aiosqlite:///{tmp_path / 'gone.db'}" if bad == "sqlite-missing"
           else pg_url(port=1))
    want = "database file" if bad == "sqlite-missing" else "cannot reach the database"
    monkeypatch.setenv("PLANSYNC_DATABASE_URL", url)
    checked, wrong = [], []
    for path, cmd in _leaf_commands():
        if not any(p.name == "data_dir" for p in cmd.params) or path == ["init"]:
            continue
        argv = [*path, *_dummy_args(cmd, tmp_path), "--data-dir", str(ddir)]
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        out, err = capfd.readouterr()
        code = exit_.value.code
        line = one_error(subprocess.CompletedProcess(argv, code if isinstance(code, int) else 1,
                                                     out, err))
        if tuple(path) not in NOT_REACHING_THE_DATABASE and want not in line:
            wrong.append((argv, line))
        checked.append(path)
    assert not wrong, wrong
    assert len(checked) >= 30 and ["serve"] in checked and ["keys", "rotate"] in checked
    for args in (["serve"], ["users", "list"], ["db", "upgrade"]):  # as real processes
        one_error(run_cli(*args, "--data-dir", str(ddir), check=False), want)
    assert not (tmp_path / "gone.db").exists()  # no command created an empty database


def test_init_takes_the_database_url_from_the_environment(tmp_path: Path) -> None:
    ddir = tmp_path / "n"
    one_error(run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level",
                      "province", "--data-dir", str(ddir), check=False,
                      env={"PLANSYNC_DATABASE_URL": "mysql://x/y"}),
              "must start with sqlite+aiosqlite://")
    assert not ddir.exists()


# -- the key, Redis, --out, the port ---------------------------------------------------------


def test_missing_node_key(tmp_path: Path, db_url: str) -> None:
    ddir = tmp_path / "n"
    init_province(ddir, db_url)
    (ddir / "node_key.pem").rename(tmp_path / "elsewhere.pem")
    for args in (["keys", "rotate"], ["plan", "list"], ["serve", "--port", str(free_port())],
                 ["children", "invite", "150600", "--name", "鄂尔多斯市"]):
        one_error(run_cli(*args, "--data-dir", str(ddir), check=False),
                  "node_key.pem is missing", "backup")
    assert not (ddir / "node_key.pem").exists()  # nothing made a new key behind our back
    (tmp_path / "elsewhere.pem").rename(ddir / "node_key.pem")
    run_cli("plan", "list", "--data-dir", str(ddir))


@pytest.mark.parametrize("cmd", ["serve", "worker"])
def test_redis_unreachable(tmp_path: Path, cmd: str) -> None:
    ddir = tmp_path / "n"
    init_province(ddir, None, "--redis-url", "redis://:secret@127.0.0.1:1/0")
    t0 = time.monotonic()
    line = one_error(run_cli(cmd, "--data-dir", str(ddir), check=False),
                     "cannot reach Redis", "127.0.0.1:1", "PLANSYNC_REDIS_URL")
    assert "secret" not in line  # the password is not printed
    assert time.monotonic() - t0 < 20


def _sample_plan(ddir: Path) -> str:
    run_cli("users", "add", "admin", "--role", "admin", "--data-dir", str(ddir))
    run_cli("framework", "import", str(SAMPLE), "--kind", "women", "--as", "admin",
            "--data-dir", str(ddir))
    return run_cli("plan", "list", "--data-dir", str(ddir)).stdout.split()[0]


def test_out_into_a_missing_folder_and_unknown_suffix(tmp_path: Path, db_url: str) -> None:
    ddir = tmp_path / "n"
    init_province(ddir, db_url)
    plan_id = _sample_plan(ddir)
    missing = tmp_path / "no" / "such"
    for args in (["plan", "export", plan_id, "--out", str(missing / "p.xlsx")],
                 ["audit", "timeliness", "--out", str(missing / "a.csv")],
                 ["aggregate", "women", "2023", "--out", str(missing / "g.csv")]):
        one_error(run_cli(*args, "--data-dir", str(ddir), check=False),
                  f"folder {missing} does not exist", "mkdir -p")
    assert not (tmp_path / "no").exists()
    one_error(run_cli("plan", "export", plan_id, "--out", str(tmp_path / "p.docx"),
                      "--data-dir", str(ddir), check=False), ".xlsx", ".json", ".docx")
    assert not (tmp_path / "p.docx").exists()
    run_cli("plan", "export", plan_id, "--out", str(tmp_path / "p.XLSX"), "--data-dir",
            str(ddir))
    assert (tmp_path / "p.XLSX").read_bytes()[:2] == b"PK"  # a real workbook
    run_cli("plan", "export", plan_id, "--out", str(tmp_path / "p.json"), "--data-dir",
            str(ddir))
    assert (tmp_path / "p.json").read_text().startswith("{")


def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    ddir = tmp_path / "n"
    init_province(ddir)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = run_cli("serve", "--data-dir", str(ddir), "--port", str(port), check=False)
    one_error(p, f"port {port}", "already in use", "--port")
    assert "started" not in p.stdout + p.stderr  # it never claimed to have started


# -- cluster ----------------------------------------------------------------------------------


def test_cluster_commands_on_a_folder_without_a_cluster(tmp_path: Path) -> None:
    for args in (["cluster", "status"], ["cluster", "down"], ["cluster", "down", "--purge"]):
        one_error(run_cli(*args, "--dir", str(tmp_path / "none"), check=False),
                  "no cluster in", "cluster.json")
    assert not (tmp_path / "none").exists()


@pytest.mark.timeout(600)
def test_demo_keep_hint_removes_everything(tmp_path: Path) -> None:
    """`demo --keep` prints how to stop its processes; following it (even after a plain
    `cluster down`) stops them and removes the data."""
    work = tmp_path / "demo"
    out = run_cli("demo", "--keep", "--workdir", str(work), timeout=600).stdout
    hint = out.split("with: plansync ", 1)[1].split("\n", 1)[0].split()
    assert hint[:2] == ["cluster", "down"] and "--purge" in hint
    import json

    pids = [pid for m in json.loads((work / "cluster.json").read_text())["members"]
            for pid in (m["pid"], m["worker_pid"]) if pid]
    st = run_cli("cluster", "status", "--dir", str(work)).stdout
    assert st.count("ready") >= 7
    run_cli("cluster", "down", "--dir", str(work))  # stop only: the data stays
    assert (work / "cluster.stopped.json").exists()
    assert "was stopped" in run_cli("cluster", "status", "--dir", str(work)).stdout
    run_cli(*hint)
    assert not work.exists()
    from node.cli.cluster import _alive

    assert not any(_alive(pid) for pid in pids)


# -- enrolment and invites -------------------------------------------------------------------


def test_enroll_against_a_parent_that_does_not_answer(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        ddir = tmp_path / "c"
        run_cli("init", "--code", "150600", "--name", "鄂尔多斯市", "--level", "city",
                "--parent-url", url, "--data-dir", str(ddir))
        t0 = time.monotonic()
        one_error(run_cli("enroll", "--token", "psi_x", "--data-dir", str(ddir), check=False,
                          env={"PLANSYNC_ENROL_TIMEOUT_SECONDS": "2"}),
                  "did not answer within 2 s", url, "parent_url")
        assert time.monotonic() - t0 < 15
    # nobody listens there any more: refused at once, and said so
    one_error(run_cli("enroll", "--token", "psi_x", "--data-dir", str(ddir), check=False),
              "cannot reach the parent", url)
    import sqlite3

    with sqlite3.connect(ddir / "plansync.db") as db:  # no parent was recorded
        assert db.execute("SELECT code, relation FROM nodes").fetchall() == [("150600", "self")]


async def _invites(url: str) -> int:
    from sqlalchemy import func, select

    from node.db import create_engine
    from node.models import Invite

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Invite))).scalar()
                       or 0)
    finally:
        await engine.dispose()


async def test_invites_refuse_zero_ttl_and_codes_not_below(tmp_path: Path,
                                                           db_factory: DbFactory) -> None:
    ddir = tmp_path / "city"
    url = await db_factory()
    run_cli("init", "--code", "150600", "--name", "鄂尔多斯市", "--level", "city",
            "--parent-url", "http://127.0.0.1:9", "--data-dir", str(ddir),
            "--database-url", url)
    one_error(run_cli("children", "invite", "150603", "--name", "康巴什区", "--ttl-hours", "0",
                      "--data-dir", str(ddir), check=False), "--ttl-hours")
    for code, name in (("150000", "内蒙古自治区"),  # its own parent
                       ("150600", "鄂尔多斯市"),  # itself
                       ("150102", "新城区")):  # a county of another city
        one_error(run_cli("children", "invite", code, "--name", name, "--data-dir", str(ddir),
                          check=False), f"cannot invite {code}")
    assert await _invites(url) == 0  # nothing was issued
    token = run_cli("children", "invite", "150603", "--name", "康巴什区", "--ttl-hours", "1",
                    "--data-dir", str(ddir)).stdout.strip()
    assert token.startswith("psi_") and await _invites(url) == 1


# -- the catch-all ----------------------------------------------------------------------------


def test_unexpected_error_is_one_line_with_a_log(tmp_path: Path) -> None:
    ddir = tmp_path / "n"
    init_province(ddir)
    (ddir / "plansync.db").write_bytes(b"this is not a database" * 100)
    line = one_error(run_cli("plan", "list", "--data-dir", str(ddir), check=False),
                     "unexpected error", "--debug")
    log = Path(line.split("details in ", 1)[1].split(";", 1)[0])
    try:
        assert "Traceback" in log.read_text()
    finally:
        log.unlink()
    for env, args in (({}, ["--debug", "plan", "list"]),
                      ({"PLANSYNC_DEBUG": "1"}, ["plan", "list"])):
        p = run_cli(*args, "--data-dir", str(ddir), check=False, env=env)
        assert p.returncode != 0 and "Traceback" in p.stderr  # for developers


def test_invalid_setting_names_the_variable(tmp_path: Path) -> None:
    ddir = tmp_path / "n"
    init_province(ddir)
    one_error(run_cli("serve", "--data-dir", str(ddir), "--port", str(free_port()),
                      check=False, env={"PLANSYNC_LOGIN_MAX_FAILURES": "0"}),
              "invalid setting", "PLANSYNC_LOGIN_MAX_FAILURES", "greater than or equal to 1")


def test_usage_mistakes_are_one_line(tmp_path: Path) -> None:
    one_error(run_cli("no-such-command", check=False), "No such command", "plansync --help")
    one_error(run_cli("plan", "export", check=False), "Missing", "plansync plan export --help")


# -- hints name real commands ----------------------------------------------------------------


def _strings(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr):
            yield "".join(str(v.value) if isinstance(v, ast.Constant) else "{X}"
                          for v in node.values)


def hints() -> set[str]:
    """Every `plansync …` the code can print (in backticks, as the CLI writes hints)."""
    import re

    found: set[str] = set()
    for path in (ROOT / "node").rglob("*.py"):
        for s in _strings(ast.parse(path.read_text("utf-8"))):
            found |= set(re.findall(r"`(plansync [^`]*)`", s))
    return found


def _command_exists(hint: str) -> str | None:
    """None if the words of ``hint`` name a command of the typer app; else why not."""
    import typer.main

    from node.cli import app

    cmd: Any = typer.main.get_command(app)
    words = hint.split()[1:]
    plain: list[str] = []
    for w in words:
        if w.startswith("-"):
            break
        plain.append(w)
    while plain and getattr(cmd, "commands", None):
        name = plain[0]
        if name.isupper() or "{" in name:  # a placeholder such as GROUP
            return None
        if name.split("|")[0] not in cmd.commands:
            return f"no command {name!r}"
        for alt in name.split("|"):
            if alt not in cmd.commands:
                return f"no command {alt!r}"
        cmd = cmd.commands[name.split("|")[0]]
        plain = plain[1:]
    positional = [p for p in cmd.params if getattr(p, "param_type_name", "") == "argument"]
    if len(plain) > len(positional):
        return f"{cmd.name} takes {len(positional)} argument(s), the hint gives {plain}"
    return None


def test_every_hint_names_a_real_command() -> None:
    found = hints()
    assert len(found) > 30 and "plansync db upgrade" in found
    wrong = {h: why for h in found if (why := _command_exists(h)) is not None}
    assert not wrong, wrong


def test_the_hint_check_can_fail() -> None:
    assert _command_exists("plansync plan create") is not None
    assert _command_exists("plansync cluster down --dir X --purge") is None
    assert _command_exists("plansync keys confirm CODE KEY_ID") is None
    assert _command_exists("plansync outbox status extra") is not None
