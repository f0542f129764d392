"""A hierarchy of real `plansync serve` processes on loopback ports, `ProcessCluster`
(`plansync cluster`, `plansync demo`, end-to-end tests and benchmarks).

Each node gets its own data directory, key, database (SQLite file, or one PostgreSQL
database per node) and an admin API token; with a Redis URL each node also gets a
`plansync worker` (arq) and its own Redis key space (queue names carry the node code).
State is written to ``cluster.json`` in the base directory so `cluster status|down` can find
the processes again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from node.config import build_config, default_database_url
from node.divisions import NATIONAL, division, divisions, tree_parent

STATE = "cluster.json"


_handed_out: set[int] = set()


# every user the lab makes signs in to the console with this password (lab clusters only: a
# real node's users get theirs from `plansync users add`)
DEMO_PASSWORD = "plansync-demo"


def free_port() -> int:
    """A free loopback port, never one this process handed out before: the kernel may give
    a just-released port again, and two nodes told the same port would collide."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


async def answers_as(client: httpx.AsyncClient, url: str, code: str) -> bool:
    """Is the node at ``url`` ready, and is it ``code`` (not another node on that port)?"""
    try:
        if (await client.get(f"{url}/readyz", timeout=1)).status_code != 200:
            return False
        r = await client.get(f"{url}/sync/v1/identity", timeout=1)
        return r.status_code == 200 and r.json().get("code") == code
    except (httpx.HTTPError, ValueError):
        return False


@dataclass
class Member:
    code: str
    name: str
    level: str
    parent: str | None
    port: int
    data_dir: str
    database_url: str
    token: str = ""
    pid: int | None = None
    worker_pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> str:
        """What answers on this member's port now (`plansync cluster status`)."""
        try:
            r = httpx.get(f"{self.url}/readyz", timeout=2)
            state = "ready" if r.status_code == 200 else f"not ready ({r.status_code})"
            who = httpx.get(f"{self.url}/sync/v1/identity", timeout=2).json().get("code")
            if who != self.code:
                state = f"port answered by another node ({who})"
        except (httpx.HTTPError, ValueError):
            state = "down"
        return state


@dataclass
class ProcessCluster:
    base: Path
    members: dict[str, Member] = field(default_factory=dict)
    redis_url: str | None = None
    pg_admin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    async def create(cls, base: Path, codes: list[str], *, pg_admin: str | None = None,
                     redis_url: str | None = None, env: dict[str, str] | None = None,
                     progress: Any = None) -> ProcessCluster:
        c = cls(base=base, redis_url=redis_url, pg_admin=pg_admin, env=env or {})
        base.mkdir(parents=True, exist_ok=True)
        inside = set(codes)
        for i, code in enumerate(codes):
            d = division(code)  # 000000 included: the optional national root
            if d is None:
                raise KeyError(f"{code} is not a GB/T 2260 code in divisions.json")
            up = tree_parent(code)  # a province's is 000000 (when it is in the cluster)
            parent = up if up in inside else None
            ddir = base / code
            db = (await _create_pg(pg_admin, code) if pg_admin
                  else default_database_url(ddir))
            m = Member(code, d.name, d.level, parent, free_port(), str(ddir), db)
            c.members[code] = m
            if progress:
                progress(i + 1, len(codes), f"init {code} {d.name}")
        for m in c.members.values():
            await c._init(m)
        c.save()
        return c

    async def _init(self, m: Member) -> None:
        from node.auth.service import create_user, issue_token
        from node.db import create_engine, session_factory, transaction
        from node.provision import provision

        parent_url = self.members[m.parent].url if m.parent else None
        cfg = build_config({"code": m.code, "name": m.name, "level": m.level,
                            "base_url": m.url, "parent_url": parent_url,
                            "data_dir": m.data_dir, "database_url": m.database_url,
                            "redis_url": self.redis_url})
        await provision(cfg)
        engine = create_engine(cfg.database_url)
        try:
            async with transaction(session_factory(engine)) as s:
                user = await create_user(session=s, name="admin", role="admin",
                                         password=DEMO_PASSWORD, actor="cluster")
                m.token = await issue_token(session=s, user=user, label="cluster",
                                            actor="cluster")
        finally:
            await engine.dispose()

    def start(self, code: str) -> None:
        m = self.members[code]
        env = {**os.environ, "PLANSYNC_SWEEP_INTERVAL_SECONDS": "0.5",
               "PLANSYNC_PULL_INTERVAL_SECONDS": "5", "PLANSYNC_LOG_LEVEL": "WARNING",
               **self.env}
        self._procs[code] = self._spawn(["serve", "--data-dir", m.data_dir, "--port",
                                         str(m.port)], Path(m.data_dir) / "serve.log", env)
        m.pid = self._procs[code].pid
        if self.redis_url:
            w = self._spawn(["worker", "--data-dir", m.data_dir],
                            Path(m.data_dir) / "worker.log", env)
            self._procs[f"{code}:worker"] = w
            m.worker_pid = w.pid

    @staticmethod
    def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(log, "ab") as f:  # the child keeps its own handle
            return subprocess.Popen([sys.executable, "-m", "node", *args], stdout=f,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)

    async def start_all(self, progress: Any = None, ready_timeout: float = 60) -> None:
        """Start every member and wait until each answers as itself; if one does not, stop
        them all before raising."""
        try:
            for code in self.members:
                self.start(code)
            for i, code in enumerate(self.members):
                await self.wait_ready(code, timeout=ready_timeout)
                if progress:
                    progress(i + 1, len(self.members),
                             f"{code} ready on {self.members[code].url}")
        except BaseException:
            self.stop_all()
            raise
        self.save()

    async def wait_ready(self, code: str, timeout: float = 60) -> None:
        m = self.members[code]
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as cl:
            while time.monotonic() < deadline:
                p = self._procs.get(code)
                if p is not None and p.poll() is not None:
                    raise RuntimeError(f"{code} exited ({p.returncode}); see "
                                       f"{Path(m.data_dir) / 'serve.log'}")
                if await answers_as(cl, m.url, code):
                    return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{code} {m.name} not ready after {timeout}s")

    async def enrol_all(self, progress: Any = None) -> None:
        """Invite each child at its parent (API) and enrol it (its own CLI command path)."""
        from node.config import load_config
        from node.protocol.enrol import enroll_with_parent
        from node.runtime import NodeRuntime

        todo = [m for m in self.members.values() if m.parent]
        for i, m in enumerate(todo):
            async with self.api(m.parent) as cl:  # type: ignore[arg-type]
                r = await cl.post("/api/v1/children/invites",
                                  json={"code": m.code, "name": m.name})
                r.raise_for_status()
                token = r.json()["token"]
            rt = NodeRuntime.open(load_config(Path(m.data_dir)))
            try:
                await enroll_with_parent(rt, token)
            finally:
                await rt.close()
            if progress:
                progress(i + 1, len(todo), f"{m.code} {m.name} enrolled under {m.parent}")

    def kill(self, code: str, sig: int = signal.SIGKILL) -> None:
        for key in (code, f"{code}:worker"):
            p = self._procs.pop(key, None)
            if p is not None and p.poll() is None:
                p.send_signal(sig)
                p.wait(15)

    def stop_all(self) -> None:
        for p in list(self._procs.values()):
            if p.poll() is None:
                p.terminate()
        for key, p in list(self._procs.items()):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self._procs.pop(key, None)

    async def drop_databases(self) -> None:
        if not self.pg_admin:
            return
        import asyncpg

        conn = await asyncpg.connect(self.pg_admin)
        try:
            for m in self.members.values():
                name = m.database_url.rsplit("/", 1)[1]
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    # -- use -------------------------------------------------------------------------------
    def api(self, code: str) -> httpx.AsyncClient:
        m = self.members[code]
        return httpx.AsyncClient(base_url=m.url, timeout=60,
                                 headers={"Authorization": f"Bearer {m.token}"})

    async def wait_for(self, what: str, check: Any, timeout: float = 60) -> float:
        """Poll ``await check()`` until true; returns the seconds it took."""
        t0 = time.monotonic()
        while not await check():
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.1)
        return time.monotonic() - t0

    # -- state -----------------------------------------------------------------------------
    def save(self) -> None:
        (self.base / STATE).write_text(json.dumps({
            "redis_url": self.redis_url, "pg_admin": self.pg_admin,
            "members": [asdict(m) for m in self.members.values()]},
            ensure_ascii=False, indent=1), "utf-8")

    @classmethod
    def load(cls, base: Path) -> ProcessCluster:
        data = json.loads((base / STATE).read_text("utf-8"))
        c = cls(base=base, redis_url=data["redis_url"], pg_admin=data["pg_admin"])
        for m in data["members"]:
            c.members[m["code"]] = Member(**m)
        return c

    def down(self) -> int:
        """Stop processes recorded in cluster.json (for clusters started by another process)."""
        n = 0
        for m in self.members.values():
            for pid in (m.pid, m.worker_pid):
                if pid:
                    try:
                        os.kill(pid, signal.SIGTERM)
                        n += 1
                    except ProcessLookupError:
                        pass
        return n


async def _create_pg(admin: str, code: str) -> str:
    import asyncpg

    name = f"plansync_{code}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


def pick(root: str, depth: int | None = None, limit_children: int | None = None,
         national: bool = False) -> list[str]:
    """Codes of ``root``'s subtree, parents first, preceded by the root's ancestors (every
    node but a province needs its parent); optionally only ``depth`` levels down and the
    first ``limit_children`` children of each node. ``national``: the national node 000000
    comes first, above the provinces (``root`` may be 000000 itself: every province)."""
    kids: dict[str | None, list[str]] = {}
    for d in divisions().values():
        kids.setdefault(d.parent or NATIONAL, []).append(d.code)
    if root != NATIONAL and root not in divisions():
        raise KeyError(f"{root} is not a GB/T 2260 code in divisions.json")
    chain: list[str] = [NATIONAL] if national and root != NATIONAL else []
    up = divisions()[root].parent if root != NATIONAL else None
    while up is not None:
        chain.insert(1 if chain[:1] == [NATIONAL] else 0, up)
        up = divisions()[up].parent
    out: list[str] = chain
    todo = [(root, 0)]
    while todo:
        code, lvl = todo.pop(0)
        out.append(code)
        if depth is not None and lvl >= depth:
            continue
        children = sorted(kids.get(code, []))[:limit_children]
        todo.extend((c, lvl + 1) for c in children)
    return out
