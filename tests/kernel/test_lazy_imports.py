"""An idle node does not load what only some requests need (issue #16: idle node memory).

A fresh interpreter builds a SQLite node with in-process delivery, runs its start-up and a few
ordinary requests, and then lists which heavy modules it has loaded. The spreadsheet, Word,
chart, mail, Redis/arq and PostgreSQL libraries must wait for their first real use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.procs import run_cli

LAZY = ("openpyxl", "numpy", "PIL", "docx", "matplotlib", "aiosmtplib", "arq", "redis",
        "asyncpg")

PROBE = """
import asyncio, json, sys
from pathlib import Path
import httpx
from node.app import create_app
from node.config import Settings, load_config

async def main() -> None:
    app = create_app(load_config(Path(sys.argv[1])), Settings())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://n") as c:
            for path in ("/healthz", "/readyz", "/metrics", "/"):
                assert (await c.get(path)).status_code < 500, path
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))

asyncio.run(main())
"""


def test_an_idle_node_loads_no_rarely_used_library(tmp_path: Path) -> None:
    data = tmp_path / "n"
    r = run_cli("init", "--code", "150603", "--name", "康巴什区", "--level", "county",
                "--parent-url", "http://127.0.0.1:9", "--data-dir", str(data))
    assert r.returncode == 0, r.stderr
    out = subprocess.run([sys.executable, "-c", PROBE, str(data)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "fastapi" in loaded and "node" in loaded  # the probe really ran a node
    assert not loaded & set(LAZY), f"loaded at idle: {sorted(loaded & set(LAZY))}"
