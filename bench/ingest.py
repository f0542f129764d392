"""Ingest benchmark: signed envelopes accepted per second by one node on PostgreSQL through
the HTTP batch endpoint, against a raw asyncpg insert of the same rows in the same run.

    .venv/bin/python bench/ingest.py [--n 10000] [--batch 200] [--pg postgresql://postgres@127.0.0.1/postgres]

The node is a province running as a real `plansync serve` process (uvicorn) on a loopback
port; its 10 enrolled cities push ``ledger.entry`` envelopes (the timeliness fact of one
receipt, the stream every root receives from its whole tree), signed before the clock starts.
Each is fully verified (envelope schema, key, Ed25519, body schema), stored with its receipt,
applied (a ledger row) and audited per batch. The baseline inserts the same envelope rows with
asyncpg executemany, one transaction per batch, into an identical, freshly migrated database.
(A ``plan.filing`` is heavier by design: the whole plan is checked against every framework in
force, and a signed receipt and a ledger entry are sent on; it is not what this measures.)
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
from sync import Signer, envelope_hash, new_id, seal  # noqa: E402
from tests.procs import Proc, free_port, run_cli  # noqa: E402

ROOT_CODE = "150000"
CITIES = ["150100", "150200", "150300", "150400", "150500", "150600", "150700", "150800",
          "150900", "152200"]


def ledger_body(city: str, i: int) -> dict[str, object]:
    county = f"{city[:4]}{2 + i % 20:02d}"
    return {"filing_id": new_id(), "filing_type": "plan.filing",
            "subject": f"{county}-women v1", "filer": county, "receiver": city,
            "received_at": "2022-06-12T02:00:00.000Z", "due_on": "2022-06-10",
            "outcome": "accepted", "timeliness": "late", "late_days": 2}


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
        run_cli("init", "--code", ROOT_CODE, "--name", "内蒙古自治区", "--level", "province",
                "--base-url", f"http://127.0.0.1:{port}",
                "--database-url", url, "--data-dir", str(tmp / "province"))
        counties = {code: Signer.generate() for code in CITIES}
        engine = create_engine(url)
        async with transaction(session_factory(engine)) as s:
            for code, signer in counties.items():
                await upsert_node(s, code=code, name=code, level="city", parent=ROOT_CODE,
                                  relation="child")
                await add_key(s, code=code, key_id=signer.key_id, public_key=signer.public_key)
                for i in range(20):  # a ledger entry is only about a child of its signer
                    county = f"{code[:4]}{2 + i:02d}"
                    await upsert_node(s, code=county, name=county, level="county", parent=code,
                                      relation="descendant")
        await engine.dispose()
        raw_engine = create_engine(f"{base.replace('postgresql://', 'postgresql+asyncpg://')}"
                                   f"/{raw_db}")
        await upgrade(raw_engine)
        await raw_engine.dispose()

        print(f"signing {args.n} envelopes ...", flush=True)
        codes = list(counties)
        envs = [seal(signer=counties[codes[i % 10]], origin=codes[i % 10], type="ledger.entry",
                     recipient=codes[i % 10], scope="ancestors",
                     body=ledger_body(codes[i % 10], i)) for i in range(args.n)]
        batches = [envs[i:i + args.batch] for i in range(0, len(envs), args.batch)]

        proc = Proc(tmp / "province", port, env={"PLANSYNC_LOG_LEVEL": "WARNING"})
        proc.wait_ready()
        # request bodies are encoded before the clock starts (the client's JSON work is not
        # the node's); two connections keep a batch ready while the node works on the last
        bodies = [json.dumps({"envelopes": b}, ensure_ascii=False).encode() for b in batches]
        todo = list(enumerate(bodies))
        done = 0

        async def client() -> None:
            nonlocal done
            async with httpx.AsyncClient(base_url=proc.url, timeout=120) as cl:
                while todo:
                    _, body = todo.pop(0)
                    r = await cl.post("/sync/v1/envelopes", content=body,
                                      headers={"content-type": "application/json"})
                    r.raise_for_status()
                    bad = [x for x in r.json()["results"] if x["status"] != "accepted"]
                    assert not bad, bad[:2]
                    done += 1
                    if done % 10 == 0:
                        print(f"  node: {done * args.batch}/{args.n}", end="\r", flush=True)

        t0 = time.perf_counter()
        await asyncio.gather(client(), client())
        node_s = time.perf_counter() - t0

        conn = await asyncpg.connect(f"{base}/{raw_db}")
        sql = ("INSERT INTO envelopes (id, type, origin, recipient_code, scope, created_at, "
               "received_at, content_hash, local, raw, receipt) VALUES "
               "($1,$2,$3,$4,$5,now(),now(),$6,true,$7,$8)")
        t0 = time.perf_counter()
        for b in batches:
            async with conn.transaction():
                await conn.executemany(sql, [
                    (e["id"], e["type"], e["origin"], e["origin"], "ancestors", envelope_hash(e),
                     json.dumps(e, ensure_ascii=False),
                     json.dumps({"id": e["id"], "status": "accepted"})) for e in b])
        raw_s = time.perf_counter() - t0
        await conn.close()
        node_rate, raw_rate = args.n / node_s, args.n / raw_s
        conn = await asyncpg.connect(f"{base}/{node_db}")
        stored = await conn.fetchval("SELECT count(*) FROM ledger")
        await conn.close()
        assert stored == args.n, f"{stored} ledger rows for {args.n} envelopes"
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
