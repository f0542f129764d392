"""Real `plansync` processes on loopback ports, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from node.lab.harness import free_port

__all__ = ["PLANSYNC", "Proc", "free_port", "run_cli"]

PLANSYNC = [sys.executable, "-m", "node"]


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, **(env or {})}
    p = subprocess.run([*PLANSYNC, *args], capture_output=True, text=True, env=e,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"plansync {' '.join(args)} failed ({p.returncode}):\n"
                             f"{p.stdout}\n{p.stderr}")
    return p


class Proc:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(data_dir / "serve.log", "w")  # noqa: SIM115
        self.p = subprocess.Popen(
            [*PLANSYNC, "serve", "--data-dir", str(data_dir), "--port", str(port)],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise AssertionError(f"serve exited {self.p.returncode}: "
                                     f"{(self.data_dir / 'serve.log').read_text()}")
            try:  # ready, and this node (not another one on a reused port)
                if (httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
                        and httpx.get(f"{self.url}/sync/v1/identity",
                                      timeout=1).json()["code"] == self.code()):
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError("node did not become ready")

    def code(self) -> str:
        from node.config import load_config

        return load_config(self.data_dir).code

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()

    def kill(self) -> None:
        self.p.kill()
        self.p.wait()
        self.log.close()


