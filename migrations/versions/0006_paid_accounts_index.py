"""The paid accounts that set an agency's discount (B5) get a partial index of their own: they are
counted on every API list, Add New quote and invoice, and the count then reads only those rows.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

PAID_WHERE = ("kind = 'resold' AND plan_term <> 'trial' AND status IN "
              "('provisioning', 'active', 'cancelled', 'disabled')")


def upgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.create_index('ix_hosted_accounts_paid', ['agency_id'], unique=False,
                              sqlite_where=sa.text(PAID_WHERE), postgresql_where=sa.text(PAID_WHERE))


def downgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_hosted_accounts_paid')
