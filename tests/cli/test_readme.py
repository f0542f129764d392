"""README "Run one node for real" works as written: its shell block is run line by line
(real `plansync` processes, two real `serve` processes, real enrolment over HTTP), then its
curl examples with the API token it printed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.paths import ROOT
from tests.procs import PLANSYNC, Proc, free_port

pytestmark = pytest.mark.timeout(600)


def section() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    return text.split("## Run one node for real", 1)[1].split("\n## ", 1)[0]


def blocks() -> list[list[str]]:
    """The bash blocks of the section, as logical lines without comments."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", section(), re.S):
        lines = []
        for raw in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s{2,})#.*$", "", raw).strip()
            if line:
                lines.append(line)
        out.append(lines)
    return out


def test_readme_walkthrough_runs(tmp_path: Path) -> None:
    walk, api = blocks()
    ports = {"8000": str(free_port()), "8001": str(free_port())}
    env: dict[str, str] = {}
    procs: list[Proc] = []
    outputs: list[str] = []

    def expand(line: str) -> list[str]:
        for old, new in ports.items():
            line = line.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
            line = line.replace(f"--port {old}", f"--port {new}")
        for k, v in env.items():
            line = line.replace(f'"${k}"', shlex.quote(v)).replace(f"${k}", shlex.quote(v))
        return shlex.split(line)

    def run(args: list[str]) -> str:
        if args[0] == "plansync":
            cmd = [*PLANSYNC, *args[1:]]
        elif args[0] == "python":
            cmd = [sys.executable, *args[1:]]
        else:
            raise AssertionError(f"README runs {args[0]!r}, which this test does not know")
        p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p.stdout

    try:
        for line in walk:
            if line.startswith("pip install"):
                continue  # this checkout is installed already
            if m := re.match(r"^(\w+)=\$\((.*)\)$", line):
                env[m.group(1)] = run(expand(m.group(2))).strip()
                continue
            args = expand(line.removesuffix("&").strip())
            if args[:2] == ["plansync", "serve"]:
                ddir = tmp_path / args[args.index("--data-dir") + 1]
                procs.append(Proc(ddir, int(args[args.index("--port") + 1])))
                procs[-1].wait_ready()
                continue
            if args[1:3] == ["filings", "list"]:  # delivery is asynchronous: wait for it
                deadline = time.monotonic() + 60
                while "150600-women v1" not in (out := run(args)):
                    assert time.monotonic() < deadline, out
                    time.sleep(0.5)
            if args[1:3] == ["audit", "timeliness"]:
                deadline = time.monotonic() + 60
                while not re.search(r"150600 .*report\.women\.2024 .*\d{4}-\d\d-\d\dT",
                                    out := run(args)):
                    assert time.monotonic() < deadline, out
                    time.sleep(0.5)
            outputs.append(run(args))
        assert outputs[-1].count("report.women.2024") >= 1
        token = next(t for o in outputs for t in re.findall(r"pst_[\w-]+", o))
        for line in api:  # curl -H "Authorization: Bearer pst_…" URL
            args = expand(line)
            assert args[0] == "curl" and args[1] == "-H"
            header = args[2].replace("pst_…", token)
            name, value = header.split(": ", 1)
            r = httpx.get(args[3], headers={name: value}, timeout=10)
            assert r.status_code == 200, (line, r.text)
        me = httpx.get(f"http://127.0.0.1:{ports['8000']}/api/v1/me",
                       headers={"Authorization": f"Bearer {token}"}).json()
        assert me["name"] == "admin" and me["node"]["code"] == "150000"
        assert httpx.get(f"http://127.0.0.1:{ports['8000']}/docs").status_code == 200
    finally:
        for p in procs:
            p.stop()


def test_readme_commands_exist() -> None:
    """Every `plansync …` the README names is a command of this plansync."""
    from tests.cli.test_operator_errors import _command_exists

    text = (ROOT / "README.md").read_text("utf-8")
    code = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    named = set(re.findall(r"^\s*(?:\w+=\$\()?(plansync [^\n#|)]*)", code, re.M))
    named |= set(re.findall(r"`(plansync [^`]*)`", text))
    assert len(named) > 20
    wrong = {n: why for n in named if (why := _command_exists(n)) is not None}
    assert not wrong, wrong
