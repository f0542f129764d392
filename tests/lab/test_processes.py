"""Province → city → county as real `plansync serve` processes on loopback ports."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx

from node.db import create_engine, session_factory
from node.models import NodeKey
from sync import Signer, seal
from tests.cluster import TREE
from tests.conftest import DbFactory
from tests.procs import Proc, free_port, run_cli
from tests.protocol_helpers import example

ENV = {"PLANSYNC_SWEEP_INTERVAL_SECONDS": "0.3"}


async def _has_key(db_url: str, code: str, key_id: str, timeout: float = 30) -> bool:
    engine = create_engine(db_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with session_factory(engine)() as s:
                    if await s.get(NodeKey, (code, key_id)) is not None:
                        return True
                await asyncio.sleep(0.2)
    except TimeoutError:
        return False
    finally:
        await engine.dispose()


async def test_three_levels_as_real_processes(tmp_path: Path, db_factory: DbFactory) -> None:
    tree = TREE[:3]
    ports = {code: free_port() for code, *_ in tree}
    dbs: dict[str, str] = {}
    procs: dict[str, Proc] = {}
    try:
        for code, name, level, parent in tree:
            dbs[code] = await db_factory()
            args = ["init", "--code", code, "--name", name, "--level", level,
                    "--base-url", f"http://127.0.0.1:{ports[code]}", "--database-url", dbs[code],
                    "--data-dir", str(tmp_path / code)]
            if parent:
                args += ["--parent-url", f"http://127.0.0.1:{ports[parent]}"]
            run_cli(*args)
            procs[code] = Proc(tmp_path / code, ports[code], env=ENV)
        for p in procs.values():
            p.wait_ready()
        for code, name, _, parent in tree:
            if parent:
                token = run_cli("children", "invite", code, "--name", name, "--data-dir",
                                str(tmp_path / parent)).stdout.strip()
                out = run_cli("enroll", "--token", token, "--data-dir", str(tmp_path / code))
                assert f"enrolled under {parent}" in out.stdout
                again = run_cli("enroll", "--token", token, "--data-dir", str(tmp_path / code),
                                check=False)
                assert again.returncode == 1 and "token_used" in again.stderr
        listed = json.loads(run_cli("children", "list", "--json", "--data-dir",
                                    str(tmp_path / "150600")).stdout)
        assert [c["code"] for c in listed] == ["150603"]
        # over real HTTP: the city forges a ledger entry of the county's and re-announces the
        # county with a key of its own; the province refuses both and changes nothing
        city = Signer.load(tmp_path / "150600" / "node_key.pem")
        fake = Signer.generate()
        forged = seal(signer=city, origin="150600", type="ledger.entry", recipient="150600",
                      scope="ancestors", body={**example("ledger.entry"), "receiver": "150603"})
        reannounce = seal(signer=city, origin="150600", type="node.enrolled",
                          recipient="150600", scope="ancestors",
                          body={"code": "150603", "name": "康巴什区", "level": "county",
                                "parent": "150600", "public_key": fake.public_key,
                                "key_id": fake.key_id})
        r = httpx.post(f"{procs['150000'].url}/sync/v1/envelopes",
                       json={"envelopes": [forged, reannounce]}, timeout=10)
        assert [x["error"]["code"] for x in r.json()["results"]] == \
            ["origin_mismatch", "key_conflict"]
        r = httpx.post(f"{procs['150000'].url}/sync/v1/envelopes",
                       content=b'{"envelopes": [], "envelopes": [1e400]}', timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
        assert not await _has_key(dbs["150000"], "150603", fake.key_id, timeout=0.5)
        # key transparency through the real chain: every ancestor holds the county's key
        check = run_cli("keys", "check", "--json", "--data-dir", str(tmp_path / "150603"))
        assert json.loads(check.stdout)["ancestors"] == {"150600": "ok", "150000": "ok"}
        # province rotates its key: relayed province -> city -> county by the serve processes
        out = run_cli("keys", "rotate", "--data-dir", str(tmp_path / "150000")).stdout
        new_prov = re.search(r"-> (\S+)", out).group(1)  # type: ignore[union-attr]
        assert await _has_key(dbs["150600"], "150000", new_prov)
        assert await _has_key(dbs["150603"], "150000", new_prov)
        # county rotates: pushed up to the city and relayed on to the province
        out = run_cli("keys", "rotate", "--data-dir", str(tmp_path / "150603")).stdout
        new_county = re.search(r"-> (\S+)", out).group(1)  # type: ignore[union-attr]
        assert await _has_key(dbs["150600"], "150603", new_county)
        assert await _has_key(dbs["150000"], "150603", new_county)
        status = json.loads(run_cli("outbox", "status", "--data-dir",
                                    str(tmp_path / "150600")).stdout)
        assert status["counts"].get("dead", 0) == 0
    finally:
        for p in procs.values():
            p.stop()
