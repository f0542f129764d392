"""login limits: failed sign-ins / enrolment-token guesses and the lockouts they caused

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_failures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_failures'))
    )
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.create_index('ix_auth_failures_subject', ['kind', 'subject', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_failures_at'), ['at'], unique=False)

    op.create_table('auth_lockouts',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'subject', name=op.f('pk_auth_lockouts'))
    )


def downgrade() -> None:
    op.drop_table('auth_lockouts')
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_failures_at'))
        batch_op.drop_index('ix_auth_failures_subject')
    op.drop_table('auth_failures')
