"""Idle node memory: resident set size of one `plansync serve` process (SQLite, in-process
delivery) after start-up and a few requests, against a bare uvicorn + FastAPI "hello" process
measured in the same run.

    .venv/bin/python bench/idle_rss.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import Proc, free_port, run_cli  # noqa: E402

HELLO = """
import uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/healthz")
def h(): return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning")
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def settle(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    for _ in range(20):
        httpx.get(f"{url}/healthz")
    time.sleep(3)


def main() -> None:
    port = free_port()
    hello = subprocess.Popen([sys.executable, "-c", HELLO, str(port)])
    try:
        settle(f"http://127.0.0.1:{port}")
        base = rss_mb(hello.pid)
    finally:
        hello.terminate()
        hello.wait()
    tmp = Path(tempfile.mkdtemp(prefix="plansync-rss-"))
    port = free_port()
    run_cli("init", "--code", "150603", "--name", "康巴什区", "--level", "county",
            "--parent-url", "http://127.0.0.1:9", "--base-url", f"http://127.0.0.1:{port}",
            "--data-dir", str(tmp / "n"))
    p = Proc(tmp / "n", port, env={"PLANSYNC_LOG_LEVEL": "WARNING"})
    try:
        p.wait_ready()
        settle(p.url)
        for path in ("/readyz", "/metrics", "/sync/v1/identity", "/openapi.json"):
            httpx.get(p.url + path)
        time.sleep(2)
        node = rss_mb(p.p.pid)
    finally:
        p.stop()
    print(f"bare uvicorn + FastAPI:  {base:6.1f} MB")
    print(f"idle plansync node:      {node:6.1f} MB")
    print(f"ratio node / bare: {node / base:.2f}x")


if __name__ == "__main__":
    main()
