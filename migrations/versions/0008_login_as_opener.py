"""A login-as session names the agency user who opened it and their agency (A10), so that it ends
when the account leaves that agency (A3, A4).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opened_by_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('opened_by_agency_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_login_sessions_opened_by_user_id_users'), 'users',
                                    ['opened_by_user_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_login_sessions_opened_by_agency_id_agencies'), 'agencies',
                                    ['opened_by_agency_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_login_sessions_opened_by_agency_id_agencies'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_login_sessions_opened_by_user_id_users'), type_='foreignkey')
        batch_op.drop_column('opened_by_agency_id')
        batch_op.drop_column('opened_by_user_id')
