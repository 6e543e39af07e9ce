"""A pack's credit count is a column of its invoice (B6, B7), no longer read back out of the line's
description; the packs bought before are filled in from their line.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credits', sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    packs = bind.execute(sa.text(
        "SELECT i.id, l.description FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id "
        "WHERE i.kind IN ('sms_pack', 'compatibility_pack') ORDER BY l.id")).all()
    seen = set()
    for invoice_id, description in packs:
        if invoice_id in seen:
            continue
        seen.add(invoice_id)
        count = description.split(" ", 1)[0].replace(",", "")
        if count.isdigit():
            bind.execute(sa.text("UPDATE invoices SET credits = :n WHERE id = :id"), {"n": int(count), "id": invoice_id})


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('credits')
