"""audit row seals

The audit chain now covers the content of the business rows (node.audit.seals): every
transaction that writes one appends a ``rows.seal`` entry with its digest. No schema change:
the chain is where the seals live. This migration seals the rows a database already holds
(entries by ``migration:0006``), so that `plansync audit verify` names only what changes after
the upgrade; an empty database gets no entry.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 18:20:00
"""
from alembic import op
import sqlalchemy as sa  # noqa: F401


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from node.audit.seals import seal_all

    seal_all(op.get_bind(), actor="migration:0006")


def downgrade() -> None:
    pass  # the seal entries are part of the chain's history; they stay
