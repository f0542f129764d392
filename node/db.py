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


class DatabaseUnavailable(Exception):
    """The database cannot be used: its file is missing, the server does not answer, the
    database does not exist or refuses the user. The message says which and what to do."""


def shown_url(engine: AsyncEngine) -> str:
    """The engine's URL without its password (for messages)."""
    return engine.url.render_as_string(hide_password=True)


def check_file(engine: AsyncEngine) -> None:
    """Raise :class:`DatabaseUnavailable` if the engine is SQLite and its file is missing:
    connecting would silently create an empty database in its place."""
    if engine.dialect.name != "sqlite":
        return
    db = engine.url.database
    if db and db != ":memory:" and not Path(db).exists():
        raise DatabaseUnavailable(
            f"数据库文件不存在 the database file {db} is missing: restore the data directory "
            "from a backup (`plansync restore`), or check --data-dir and database_url in "
            "node.json / PLANSYNC_DATABASE_URL")


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "orig", None)]
    return seen


def explain(exc: BaseException, url: str) -> str | None:
    """What went wrong connecting to the database at ``url`` (password hidden), in words
    with the fix; None if ``exc`` is not a connection problem."""
    import socket
    import sqlite3

    where = ("check the database URL (database_url in node.json, PLANSYNC_DATABASE_URL, or "
             "--database-url of init)")
    for e in _causes(exc):
        name = type(e).__name__
        if name == "InvalidCatalogNameError":
            return (f"数据库不存在 database does not exist: {url} ({e}); create it first "
                    f"(e.g. `createdb`) or {where}")
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return (f"数据库拒绝登录 the database refused the user in {url} ({e}); "
                    f"check the user name and password, or {where}")
        if isinstance(e, socket.gaierror):
            return f"数据库主机未知 unknown database host in {url} ({e}); {where}"
        if isinstance(e, (ConnectionError, TimeoutError)) or (
                isinstance(e, OSError) and e.errno is not None):
            return (f"无法连接数据库 cannot reach the database server of {url} ({e}); is it "
                    f"running and is the host/port right? {where}")
        if isinstance(e, sqlite3.OperationalError) and "unable to open" in str(e):
            return (f"无法打开数据库文件 cannot open the SQLite file of {url} ({e}): its "
                    f"folder is missing or not writable; {where}")
    return None


async def _guarded(engine: AsyncEngine, fn: Any) -> Any:
    try:
        return await fn()
    except (SchemaBehind, DatabaseUnavailable):
        raise
    except Exception as e:
        why = explain(e, shown_url(engine))
        if why is None:
            raise
        raise DatabaseUnavailable(why) from e


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
    """The schema revision; :class:`DatabaseUnavailable` if the server cannot be used."""
    async def go() -> str | None:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)

    rev: str | None = await _guarded(engine, go)
    return rev


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on this engine."""

    def _run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async def go() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(_run)

    await _guarded(engine, go)


async def ensure_current(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaBehind` unless the database is at the head revision, and
    :class:`DatabaseUnavailable` if it cannot be reached or its file is missing."""
    check_file(engine)
    cur, head = await current_revision(engine), head_revision()
    if cur != head:
        raise SchemaBehind(
            f"database schema is at {cur or 'empty'}, this plansync needs {head}: "
            "run `plansync db upgrade` (with the same --data-dir) and start again"
        )
