"""deploy/systemd: the units pass `systemd-analyze verify` and are hardened
(`systemd-analyze security --offline`).

`verify` insists that ExecStart's binary exists; /opt/plansync/bin/plansync does not exist on a
development machine, so the test verifies a copy whose paths point at this checkout's own
`plansync` script (and at the example environment file). The unmodified units are checked too:
the only complaint allowed about them is that missing binary."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.tools import DEPLOY, env_file, need, settings_errors

UNITS = ["plansync-serve.service", "plansync-worker.service"]
SYSTEMD = DEPLOY / "systemd"
HARDENING = {"NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true",
             "PrivateTmp": "true", "ReadWritePaths": "/var/lib/plansync"}


def plansync_script() -> Path:
    script = Path(sys.executable).parent / "plansync"
    assert script.exists(), f"{script}: install the project (pip install -e .)"
    return script


def localised(tmp: Path, unit: str) -> Path:
    text = (SYSTEMD / unit).read_text("utf-8")
    text = text.replace("/opt/plansync/bin/plansync", str(plansync_script()))
    text = text.replace("/etc/plansync/plansync.env", str(SYSTEMD / "plansync.env.example"))
    (tmp / unit).write_text(text, "utf-8")
    return tmp / unit


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    tool = need("systemd-analyze", "/usr/bin/systemd-analyze")
    # verify exits 0 even for unknown keys or unparsable values: its stderr says so
    return subprocess.run([tool, "verify", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=path.parent)


def service_section(unit: str) -> dict[str, list[str]]:
    """The [Service] keys and their values (systemd allows repeated keys: a list each)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in (SYSTEMD / unit).read_text("utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#") and section == "Service":
            k, v = line.split("=", 1)
            values.setdefault(k, []).append(v)
    return values


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies(unit: str, tmp_path: Path) -> None:
    p = verify(localised(tmp_path, unit))
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    # as shipped: the one complaint is the binary this machine does not have
    shutil.copy(SYSTEMD / unit, tmp_path / f"shipped-{unit}")
    shipped = verify(tmp_path / f"shipped-{unit}")
    complaints = {line.split(": ", 1)[-1] for line in shipped.stderr.splitlines() if line}
    assert complaints <= {"Command /opt/plansync/bin/plansync is not executable: "
                          "No such file or directory"}, shipped.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_unit_is_hardened(unit: str, tmp_path: Path) -> None:
    svc = service_section(unit)
    for key, value in HARDENING.items():
        assert svc.get(key) == [value], key
    assert svc["EnvironmentFile"] == ["/etc/plansync/plansync.env"]
    assert svc["User"] == ["plansync"]
    tool = need("systemd-analyze", "/usr/bin/systemd-analyze")
    # exposure 0–10 (×10 for --threshold): fail above 2.0 ("OK" ends at 3.9)
    p = subprocess.run([tool, "security", "--offline=true", "--threshold=20",
                        str(localised(tmp_path, unit))], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr


def test_verify_catches_mistakes(tmp_path: Path) -> None:
    path = localised(tmp_path, UNITS[0])
    path.write_text(path.read_text("utf-8").replace("NoNewPrivileges=true",
                                                    "NoNewPrivileges=maybe"), "utf-8")
    assert "Failed to parse boolean value" in verify(path).stderr


def test_no_unit_is_left_in_the_old_place() -> None:
    assert not list(DEPLOY.glob("*.service"))
    assert (SYSTEMD / "plansync.env.example").exists()


def test_example_environment_file_is_accepted_by_the_node() -> None:
    text = (SYSTEMD / "plansync.env.example").read_text("utf-8")
    assert settings_errors(env_file(text)) == []
    # the commented-out examples too, once uncommented
    uncommented = "\n".join(line.lstrip("# ") for line in text.splitlines()
                             if line.lstrip("# ").startswith("PLANSYNC_"))
    assert settings_errors(env_file(uncommented)) == []
