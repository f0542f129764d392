"""backup/restore: a node's outbox epoch so peers notice a restore

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 00:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nodes.epoch: this node's outbox/feed epoch on its own row, the last epoch a neighbour
    # showed on that neighbour's row (docs/protocol.md, "Restored nodes")
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('epoch', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('resync_since', sa.DateTime(timezone=True),
                                      nullable=True))
    # envelopes.reclaimed: own envelopes a neighbour gave back after a restore
    with op.batch_alter_table('envelopes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reclaimed', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_envelopes_reclaimed'), ['reclaimed'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('envelopes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_envelopes_reclaimed'))
        batch_op.drop_column('reclaimed')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('resync_since')
        batch_op.drop_column('epoch')
