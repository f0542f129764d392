"""backup/restore: a node's outbox epoch so peers notice a restore (placeholder reserved for this session's work; filled in by its owner)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 00:15:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
