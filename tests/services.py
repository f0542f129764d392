"""Real PostgreSQL and Redis for tests: each test gets its own database / Redis db index.

Without the service the test is skipped and listed in a loud summary; with CI=true a missing
service fails the test instead.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_ADMIN = os.environ.get("PLANSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PLANSYNC_TEST_REDIS", "redis://127.0.0.1:6379")
SKIPPED: dict[str, str] = {}


def _missing(service: str, why: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{service} is required in CI (CI=true) but unavailable: {why}")
    SKIPPED[service] = why
    pytest.skip(f"{service} unavailable: {why}")


async def create_pg_database() -> str:
    """Create a fresh database; return its asyncpg SQLAlchemy URL."""
    import asyncpg

    name = f"plansync_t_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError) as e:
        _missing("PostgreSQL", f"{PG_ADMIN}: {e}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


_redis_dbs = iter(range(1, 16))


async def redis_url_for_test() -> str:
    from redis.asyncio import Redis

    r = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await r.ping()
    except Exception as e:
        _missing("Redis", f"{REDIS_URL}: {e}")
    finally:
        await r.aclose()
    try:
        db = next(_redis_dbs)
    except StopIteration:
        db = 15
    url = f"{REDIS_URL}/{db}"
    r = Redis.from_url(url)
    await r.flushdb()
    await r.aclose()
    return url
