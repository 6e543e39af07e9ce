"""Invoices an accountant accepts (issue 22, B4): the agency's billing details, gap-free invoice numbers per year.

Every invoice made before this revision counts as issued (issued_at = when it was paid, or made): it keeps
its "INV-YYYYMM-<id>" number whatever happens to it later; the invoices made from now on get a provisional
reference until they are paid, then the next number of their year ("2026-000001"). The billing details
copied onto an invoice are NULL for the invoices issued before them (nothing was captured then).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'billing_details',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('legal_name', sa.String(length=200), nullable=False),
        sa.Column('address_line1', sa.String(length=200), nullable=False),
        sa.Column('address_line2', sa.String(length=200), nullable=True),
        sa.Column('postal_code', sa.String(length=20), nullable=True),
        sa.Column('city', sa.String(length=100), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('tax_id', sa.String(length=30), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_billing_details_agency_id_agencies')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_details')),
        sa.UniqueConstraint('agency_id', name=op.f('uq_billing_details_agency_id')),
    )
    op.create_table(
        'invoice_number_counters',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_number', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('last_number >= 0', name=op.f('ck_invoice_number_counters_not_negative')),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_invoice_number_counters')),
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('billed_to', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('issuer', sa.JSON(), nullable=True))
    op.execute("UPDATE invoices SET issued_at = COALESCE(paid_at, created_at)")
    op.create_index('ix_invoices_agency_issued', 'invoices', ['agency_id', 'issued_at'], unique=False)
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.drop_column('label')
    op.drop_index('ix_invoices_agency_issued', table_name='invoices')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('issuer')
        batch_op.drop_column('billed_to')
        batch_op.drop_column('issued_at')
    op.drop_table('invoice_number_counters')
    op.drop_table('billing_details')
