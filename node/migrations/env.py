"""Alembic environment: always called with a live connection (see node.db.upgrade)."""

from alembic import context

from node.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `plansync db upgrade`, not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
