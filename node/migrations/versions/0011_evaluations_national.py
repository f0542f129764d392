"""mid-term/final evaluations; the national level (placeholder reserved for this session's work; filled in by its owner)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 00:15:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ---- evaluations (mid-term 2025 / final 2030, node/models/evaluations.py) ----------
    op.create_table('evaluations',
    sa.Column('id', sa.String(length=48), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filed_envelope_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluations'))
    )
    op.create_table('evaluation_overrides',
    sa.Column('evaluation_id', sa.String(length=48), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('evaluation_id', 'code', name=op.f('pk_evaluation_overrides'))
    )
    op.create_table('evaluation_self',
    sa.Column('evaluation_id', sa.String(length=48), nullable=False),
    sa.Column('unit', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('submitted_by', sa.String(length=100), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('evaluation_id', 'unit', 'code', name=op.f('pk_evaluation_self'))
    )
    op.create_table('received_evaluations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('filer', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('direct', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('late_days', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('refiling_of', sa.String(length=36), nullable=True),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('receipt_envelope_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_evaluations'))
    )
    with op.batch_alter_table('received_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_received_evaluations_filer'), ['filer'],
                              unique=False)
    # ---- end of evaluations; the national level's changes (if any) follow -------------


def downgrade() -> None:
    # ---- evaluations --------------------------------------------------------------------
    with op.batch_alter_table('received_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_received_evaluations_filer'))
    op.drop_table('received_evaluations')
    op.drop_table('evaluation_self')
    op.drop_table('evaluation_overrides')
    op.drop_table('evaluations')
