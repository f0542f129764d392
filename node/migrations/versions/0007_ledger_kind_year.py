"""ledger rows: explicit kind and year (the audit no longer parses them out of subject)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 19:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ledger') as b:
        b.add_column(sa.Column('kind', sa.String(length=10), nullable=True))
        b.add_column(sa.Column('year', sa.Integer(), nullable=True))
    # subjects were '150603-women v1' (plans) and 'women 2023' (reports)
    conn = op.get_bind()
    ledger = sa.table('ledger', sa.column('envelope_id', sa.String), sa.column('filing_type'),
                      sa.column('subject', sa.String), sa.column('kind', sa.String),
                      sa.column('year', sa.Integer))
    rows = conn.execute(sa.select(ledger.c.envelope_id, ledger.c.filing_type,
                                  ledger.c.subject)).all()
    for env_id, ftype, subject in rows:
        words = (subject or "").split()
        if not words:
            continue
        if ftype == "plan.filing":
            kind, year = words[0].rsplit("-", 1)[-1], None
        else:
            kind = words[0]
            year = int(words[-1]) if words[-1].isdigit() else None
        if kind not in ("women", "children"):
            continue
        conn.execute(sa.update(ledger).where(ledger.c.envelope_id == env_id)
                     .values(kind=kind, year=year))
    if rows:  # the audit chain seals ledger rows: re-seal the rows this migration changed
        from node.audit.seals import seal_all

        seal_all(conn, actor="migration:0007", tables=["ledger"])


def downgrade() -> None:
    with op.batch_alter_table('ledger') as b:
        b.drop_column('year')
        b.drop_column('kind')
