"""reminders: per-node digest settings, the (day, channel) claim of each send, every attempt

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 00:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reminder_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('send_at', sa.String(length=5), nullable=False),
        sa.Column('horizon_days', sa.Integer(), nullable=False),
        sa.Column('email_enabled', sa.Boolean(), nullable=False),
        sa.Column('smtp_host', sa.String(length=255), nullable=False),
        sa.Column('smtp_port', sa.Integer(), nullable=False),
        sa.Column('smtp_security', sa.String(length=10), nullable=False),
        sa.Column('smtp_user', sa.String(length=255), nullable=False),
        sa.Column('mail_from', sa.String(length=255), nullable=False),
        sa.Column('mail_to', sa.JSON(), nullable=False),
        sa.Column('webhook_enabled', sa.Boolean(), nullable=False),
        sa.Column('webhook_url', sa.String(length=1000), nullable=False),
        sa.Column('webhook_secret', sa.String(length=255), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_by', sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_settings')),
    )
    op.create_table(
        'reminder_sends',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_sends')),
        sa.UniqueConstraint('day', 'channel', name='uq_reminder_sends_day_channel'),
    )
    op.create_table(
        'reminder_attempts',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('trigger', sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_attempts')),
    )
    op.create_index(op.f('ix_reminder_attempts_at'), 'reminder_attempts', ['at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reminder_attempts_at'), table_name='reminder_attempts')
    op.drop_table('reminder_attempts')
    op.drop_table('reminder_sends')
    op.drop_table('reminder_settings')
