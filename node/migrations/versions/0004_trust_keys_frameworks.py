"""trust: key status and carry list, recovery invites, current framework version

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 18:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('node_keys') as b:
        b.add_column(sa.Column('status', sa.String(length=10), nullable=False,
                               server_default='active'))
        b.add_column(sa.Column('carry', sa.JSON(), nullable=True))
        b.add_column(sa.Column('confirmed_by', sa.String(length=120), nullable=True))
    with op.batch_alter_table('invites') as b:
        b.add_column(sa.Column('recovery', sa.Boolean(), nullable=False,
                               server_default=sa.false()))
    with op.batch_alter_table('frameworks') as b:
        b.add_column(sa.Column('current', sa.Boolean(), nullable=False,
                               server_default=sa.true()))
    # an existing older version is not current where a newer one of the same plan exists
    op.execute("UPDATE frameworks SET current = false WHERE EXISTS (SELECT 1 FROM frameworks f2 "
               "WHERE f2.origin = frameworks.origin AND f2.kind = frameworks.kind "
               "AND f2.version > frameworks.version)")


def downgrade() -> None:
    with op.batch_alter_table('frameworks') as b:
        b.drop_column('current')
    with op.batch_alter_table('invites') as b:
        b.drop_column('recovery')
    with op.batch_alter_table('node_keys') as b:
        b.drop_column('confirmed_by')
        b.drop_column('carry')
        b.drop_column('status')
