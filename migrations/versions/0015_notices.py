"""Every notice as real e-mail (issue 21, N1-N2): an e-mail keeps its HTML part, its sender's display name,
Reply-To and language; an agency's notice settings; when a paid renewal's receipt went out; why an account
is disabled (unpaid, or abuse by support).

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

RECEIPT_DUE = "receipt_at IS NULL AND status = 'paid'"


def upgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_html', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('from_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
        batch_op.alter_column('last_error', type_=sa.String(length=500), existing_type=sa.String(length=300))
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('notice_language', sa.String(length=8), nullable=False, server_default='en'))
        batch_op.add_column(sa.Column('notify_receipts', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('receipt_digest', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('notify_upcoming', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_at', sa.DateTime(), nullable=True))
    # Invoices paid before this release are not receipted now, months later.
    op.execute("UPDATE invoices SET receipt_at = paid_at WHERE status = 'paid'")
    op.create_index('ix_invoices_receipt_due', 'invoices', ['paid_at'], sqlite_where=sa.text(RECEIPT_DUE),
                    postgresql_where=sa.text(RECEIPT_DUE))
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_reason', sa.String(length=20), nullable=True))
    op.execute("UPDATE hosted_accounts SET disabled_reason = 'unpaid' WHERE status = 'disabled'")


def downgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.drop_column('disabled_reason')
    op.drop_index('ix_invoices_receipt_due', table_name='invoices')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('receipt_at')
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        for name in ('notify_upcoming', 'receipt_digest', 'notify_receipts', 'notice_language', 'notice_email'):
            batch_op.drop_column(name)
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.alter_column('last_error', type_=sa.String(length=300), existing_type=sa.String(length=500))
        for name in ('locale', 'reply_to', 'from_name', 'body_html'):
            batch_op.drop_column(name)
