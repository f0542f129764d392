from __future__ import annotations

import pytest
from sqlalchemy import inspect

from node.db import SchemaBehind, create_engine, current_revision, ensure_current, head_revision
from node.db import upgrade as db_upgrade


async def test_migrations_up_from_empty(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await current_revision(engine) is None
        with pytest.raises(SchemaBehind, match="plansync db upgrade"):
            await ensure_current(engine)
        await db_upgrade(engine)
        assert await current_revision(engine) == head_revision()
        await ensure_current(engine)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"users", "api_tokens", "audit_log", "nodes", "node_keys", "invites",
                "envelopes", "outbox", "own_keys"} <= tables
        await db_upgrade(engine)  # idempotent
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(db_url: str) -> None:
    """What `db upgrade` builds is what the models describe (columns, types, nullability):
    a model change without its migration fails here, on SQLite and PostgreSQL."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import node.models  # noqa: F401  (every table registered)
    from node.models.base import Base

    engine = create_engine(db_url)
    try:
        await db_upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
    finally:
        await engine.dispose()
    # index naming differs between autogenerate and hand-written migrations; tables and
    # columns must agree exactly
    relevant = [d for d in diff if not (isinstance(d, tuple) and d[0] in ("add_index",
                                                                          "remove_index"))]
    assert relevant == [], relevant
