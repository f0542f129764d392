"""member units' yearly reports and plan task decomposition tables

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 00:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'unit_reports',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('unit', sa.String(length=100), nullable=False),
        sa.Column('unit_key', sa.String(length=100), nullable=False),
        sa.Column('implementation', sa.Text(), nullable=False),
        sa.Column('next_year', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('late_days', sa.Integer(), nullable=False),
        sa.Column('submitted_by', sa.String(length=100), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('return_reason', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_reports')),
        sa.UniqueConstraint('kind', 'year', 'unit_key', name=op.f('uq_unit_reports_kind')),
    )
    op.create_table(
        'plan_tasks',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        sa.Column('plan_id', sa.String(length=40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('section', sa.String(length=100), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('lead_unit', sa.String(length=100), nullable=False),
        sa.Column('responsible_units', sa.JSON(), nullable=False),
        sa.Column('indicators', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_tasks')),
    )
    op.create_index(op.f('ix_plan_tasks_plan_id'), 'plan_tasks', ['plan_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_plan_tasks_plan_id'), table_name='plan_tasks')
    op.drop_table('plan_tasks')
    op.drop_table('unit_reports')
