"""Engines, sessions and migrations (Alembic, run on SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaBehind(Exception):
    """The database schema is older than this software: run `plansync db upgrade`."""


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # SQLite has one writer: one pooled connection serialises this process's transactions,
        # WAL + busy_timeout let other processes (the CLI and `worker` next to `serve`) wait
        # instead of fail. Every transaction begins IMMEDIATE, so it holds the write lock from
        # its first read: the driver's default would run the reads outside any transaction
        # and begin only at the first write, when another process may already have written
        # what was read as absent (one envelope taken in by `serve` and `worker` at once).
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # the driver leaves BEGIN to us
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


ORDER_LOCK = 7_305_221


async def order_lock(session: AsyncSession) -> None:
    """Serialise, on PostgreSQL, the transactions whose commit order matters: audit-chain
    appends, downward feed rows (cursors must never skip a row), and envelope ingestion
    (concurrent deliveries of one envelope must see each other). One lock for all of them,
    held until commit, so they cannot deadlock on each other. SQLite already has one writer.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ORDER_LOCK})


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on this engine."""

    def _run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def ensure_current(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaBehind` unless the database is at the head revision."""
    cur, head = await current_revision(engine), head_revision()
    if cur != head:
        raise SchemaBehind(
            f"database schema is at {cur or 'empty'}, this plansync needs {head}: "
            "run `plansync db upgrade` (with the same --data-dir) and start again"
        )
