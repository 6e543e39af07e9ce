"""Renewing an expired account is its own kind of invoice, a reactivation, not a sign-up (issue 22).

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

OLD = ('signup', 'renewal', 'upgrade', 'prepaid', 'sms_pack', 'compatibility_pack')
NEW = OLD + ('reactivation',)


def _kinds(kinds):
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_invoice_kind'), type_='check')
        batch_op.create_check_constraint('invoice_kind', _kinds(NEW))


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_invoice_kind'), type_='check')
        batch_op.create_check_constraint('invoice_kind', _kinds(OLD))
