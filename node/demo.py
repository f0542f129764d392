"""`plansync demo`: a real hierarchy of `plansync serve` processes on loopback ports.

内蒙古自治区 (150000) → 鄂尔多斯市 (150600) → 康巴什区 (150603), 东胜区 (150602);
                      → 呼和浩特市 (150100) → 新城区 (150102), 回民区 (150103).

Each node has its own data directory, SQLite database and Ed25519 key, and delivers its
outbox in-process. The scenario so far exercises the protocol end to end: enrolment of every
office with one-time tokens, then signed key rotations relayed down (province → every county)
and up (county → city → province), each verified end to end at every node.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from node.config import build_config, default_database_url, write_config
from node.divisions import divisions

DEMO_TREE = ["150000", "150600", "150603", "150602", "150100", "150102", "150103"]


@dataclass
class DemoNode:
    code: str
    name: str
    level: str
    parent: str | None
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _init(n: DemoNode, urls: dict[str, str]) -> None:
    from node.db import create_engine, session_factory, transaction, upgrade
    from node.protocol.directory import ensure_self
    from sync import Signer

    cfg = build_config({"code": n.code, "name": n.name, "level": n.level, "base_url": n.url,
                        "parent_url": urls.get(n.parent or ""), "data_dir": str(n.data_dir),
                        "database_url": default_database_url(n.data_dir)})
    n.data_dir.mkdir(parents=True, exist_ok=True)
    signer = Signer.generate()
    signer.save(cfg.key_path)
    write_config(cfg)
    engine = create_engine(cfg.database_url)
    try:
        await upgrade(engine)
        async with transaction(session_factory(engine)) as s:
            await ensure_self(s, cfg, signer)
    finally:
        await engine.dispose()


def _start(n: DemoNode) -> None:
    env = {**os.environ, "PLANSYNC_SWEEP_INTERVAL_SECONDS": "0.5",
           "PLANSYNC_LOG_LEVEL": "WARNING"}
    log = open(n.data_dir / "serve.log", "wb")  # noqa: SIM115
    n.proc = subprocess.Popen([sys.executable, "-m", "node", "serve", "--data-dir",
                               str(n.data_dir), "--port", str(n.port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)


async def _wait_ready(n: DemoNode, timeout: float = 30) -> None:
    async with httpx.AsyncClient() as c:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if n.proc is not None and n.proc.poll() is not None:
                raise RuntimeError(f"{n.code} exited; see {n.data_dir / 'serve.log'}")
            try:
                if (await c.get(f"{n.url}/readyz", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{n.code} {n.name} did not become ready")


async def _rt(n: DemoNode) -> Any:
    from node.config import load_config
    from node.runtime import NodeRuntime

    return NodeRuntime.open(load_config(n.data_dir))


async def _enrol(parent: DemoNode, child: DemoNode) -> None:
    from node.db import transaction
    from node.protocol.enrol import create_invite, enroll_with_parent

    prt, crt = await _rt(parent), await _rt(child)
    try:
        async with transaction(prt.sessions) as s:
            token = await create_invite(session=s, code=child.code, name=child.name,
                                        actor="demo", ttl=timedelta(hours=1))
        await enroll_with_parent(crt, token)
    finally:
        await prt.close()
        await crt.close()


async def _knows_key(n: DemoNode, code: str, key_id: str) -> bool:
    from node.models import NodeKey

    rt = await _rt(n)
    try:
        async with rt.sessions() as s:
            return await s.get(NodeKey, (code, key_id)) is not None
    finally:
        await rt.close()


async def _rotate(n: DemoNode) -> str:
    from node.protocol.keys import rotate_key

    rt = await _rt(n)
    try:
        return (await rotate_key(rt))[1]
    finally:
        await rt.close()


async def _propagate(origin: DemoNode, targets: list[DemoNode], quiet: bool,
                     timeout: float = 60) -> float:
    key_id = await _rotate(origin)
    t0 = time.monotonic()
    pending = {t.code: t for t in targets}
    while pending and time.monotonic() - t0 < timeout:
        for code, t in list(pending.items()):
            if await _knows_key(t, origin.code, key_id):
                del pending[code]
                _say(f"    ✓ {t.code} {t.name} verified {origin.name}'s new key", quiet)
        await asyncio.sleep(0.1)
    if pending:
        raise RuntimeError(f"key rotation of {origin.code} did not reach {sorted(pending)}")
    return time.monotonic() - t0


async def run_demo(*, keep: bool, as_json: bool, workdir: Path | None) -> dict[str, Any]:
    quiet = as_json
    base = workdir or Path(tempfile.mkdtemp(prefix="plansync-demo-"))
    divs = divisions()
    nodes = {c: DemoNode(c, divs[c].name, divs[c].level, divs[c].parent, _free_port(),
                         base / c) for c in DEMO_TREE}
    urls = {c: n.url for c, n in nodes.items()}
    summary: dict[str, Any] = {"workdir": str(base), "nodes": [], "steps": []}
    try:
        _say(f"[1/4] 初始化节点 creating {len(nodes)} nodes in {base}", quiet)
        for n in nodes.values():
            await _init(n, urls)
        _say("[2/4] 启动进程 starting `plansync serve` processes", quiet)
        for n in nodes.values():
            _start(n)
        for n in nodes.values():
            await _wait_ready(n)
            _say(f"    ✓ {n.code} {n.name:<8} {n.level:<8} {n.url}", quiet)
        _say("[3/4] 下级入网 enrolling every office with its parent (one-time tokens)", quiet)
        for n in nodes.values():
            if n.parent:
                await _enrol(nodes[n.parent], n)
                _say(f"    ✓ {n.code} {n.name} enrolled under {n.parent}", quiet)
        _say("[4/4] 签名传播 signed key rotations, relayed and verified at every level", quiet)
        prov = nodes["150000"]
        down = await _propagate(prov, [n for n in nodes.values() if n.code != "150000"], quiet)
        summary["steps"].append({"step": "province key rotation reaches all 6 nodes",
                                 "seconds": round(down, 2)})
        county = nodes["150603"]
        up = await _propagate(county, [nodes["150600"], prov], quiet)
        summary["steps"].append({"step": "county key rotation reaches city and province",
                                 "seconds": round(up, 2)})
        summary["nodes"] = [{"code": n.code, "name": n.name, "level": n.level, "url": n.url,
                             "parent": n.parent} for n in nodes.values()]
        if not quiet:
            print("\n节点 nodes (where each listens):")
            for n in nodes.values():
                print(f"  {n.code} {n.name:<8} {n.level:<8} {n.url}  parent {n.parent or '-'}")
            print("\n结果 results:")
            for s in summary["steps"]:
                print(f"  {s['step']}: {s['seconds']} s")
            print("\n下一步 next: plans, filings and the timeliness audit come with issues "
                  "#4–#6; this demo shows the signed protocol they travel on.")
        else:
            print(json.dumps(summary, ensure_ascii=False, indent=2))
        return summary
    finally:
        if keep:
            _say(f"\n--keep: processes keep running; data in {base}", quiet)
        else:
            for n in nodes.values():
                if n.proc is not None and n.proc.poll() is None:
                    n.proc.terminate()
            for n in nodes.values():
                if n.proc is not None:
                    try:
                        n.proc.wait(10)
                    except subprocess.TimeoutExpired:
                        n.proc.kill()
            if workdir is None:
                shutil.rmtree(base, ignore_errors=True)
