"""Ingest benchmark: signed envelopes accepted per second by one node on PostgreSQL through
the HTTP batch endpoint, against a raw asyncpg insert of the same rows in the same run.

    .venv/bin/python bench/ingest.py [--n 10000] [--batch 200] [--pg postgresql://postgres@127.0.0.1/postgres]

The node runs as a real `plansync serve` process (uvicorn) on a loopback port; envelopes are
signed before the clock starts. The baseline inserts the same envelope rows with
asyncpg executemany, one transaction per batch, into an identical, freshly migrated database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.db import create_engine, session_factory, transaction, upgrade  # noqa: E402
from node.protocol.directory import add_key, upsert_node  # noqa: E402
from sync import Signer, envelope_hash, seal  # noqa: E402
from tests.procs import Proc, free_port, run_cli  # noqa: E402

FILING = {"plan_id": "p", "kind": "women", "version": 1,
          "title": "康巴什区妇女发展规划（2021—2030年）", "released_on": "2022-05-10",
          "document": {"indicators": [{"code": f"W-{i:02d}", "name": "孕产妇死亡率",
                                       "comparator": "<", "target": 12, "unit": "1/10万"}
                                      for i in range(10)]}}


async def create_db(admin: str) -> str:
    name = f"plansync_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name


async def drop_db(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    base = args.pg.rsplit("/", 1)[0]
    node_db, raw_db = await create_db(args.pg), await create_db(args.pg)
    tmp = Path(tempfile.mkdtemp(prefix="plansync-bench-"))
    proc = None
    try:
        url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{node_db}"
        port = free_port()
        run_cli("init", "--code", "150600", "--name", "鄂尔多斯市", "--level", "city",
                "--parent-url", "http://127.0.0.1:9", "--base-url", f"http://127.0.0.1:{port}",
                "--database-url", url, "--data-dir", str(tmp / "city"))
        counties = {f"1506{i:02d}": Signer.generate() for i in range(1, 11)}
        engine = create_engine(url)
        async with transaction(session_factory(engine)) as s:
            for code, signer in counties.items():
                await upsert_node(s, code=code, name=code, level="county", parent="150600",
                                  relation="child")
                await add_key(s, code=code, key_id=signer.key_id, public_key=signer.public_key)
        await engine.dispose()
        raw_engine = create_engine(f"{base.replace('postgresql://', 'postgresql+asyncpg://')}"
                                   f"/{raw_db}")
        await upgrade(raw_engine)
        await raw_engine.dispose()

        print(f"signing {args.n} envelopes ...", flush=True)
        codes = list(counties)
        envs = [seal(signer=counties[codes[i % 10]], origin=codes[i % 10], type="plan.filing",
                     recipient="150600", body=FILING) for i in range(args.n)]
        batches = [envs[i:i + args.batch] for i in range(0, len(envs), args.batch)]

        proc = Proc(tmp / "city", port, env={"PLANSYNC_LOG_LEVEL": "WARNING"})
        proc.wait_ready()
        async with httpx.AsyncClient(base_url=proc.url, timeout=120) as cl:
            t0 = time.perf_counter()
            for i, b in enumerate(batches):
                r = await cl.post("/sync/v1/envelopes", json={"envelopes": b})
                r.raise_for_status()
                bad = [x for x in r.json()["results"] if x["status"] != "accepted"]
                assert not bad, bad[:2]
                if i % 10 == 0:
                    print(f"  node: {i * args.batch}/{args.n}", end="\r", flush=True)
            node_s = time.perf_counter() - t0

        conn = await asyncpg.connect(f"{base}/{raw_db}")
        sql = ("INSERT INTO envelopes (id, type, origin, recipient_code, scope, created_at, "
               "received_at, content_hash, local, raw, receipt) VALUES "
               "($1,$2,$3,$4,$5,now(),now(),$6,true,$7,$8)")
        t0 = time.perf_counter()
        for b in batches:
            async with conn.transaction():
                await conn.executemany(sql, [
                    (e["id"], e["type"], e["origin"], "150600", "node", envelope_hash(e),
                     json.dumps(e, ensure_ascii=False),
                     json.dumps({"id": e["id"], "status": "accepted"})) for e in b])
        raw_s = time.perf_counter() - t0
        await conn.close()
        node_rate, raw_rate = args.n / node_s, args.n / raw_s
        print(f"node (HTTP batch, verify+store): {node_rate:8.0f} envelopes/s  ({node_s:.2f} s)")
        print(f"raw asyncpg insert (baseline):   {raw_rate:8.0f} rows/s       ({raw_s:.2f} s)")
        print(f"ratio raw/node: {raw_rate / node_rate:.2f}x  (goal: within 4x)")
    finally:
        if proc is not None:
            proc.stop()
        await drop_db(args.pg, node_db)
        await drop_db(args.pg, raw_db)


if __name__ == "__main__":
    asyncio.run(main())
