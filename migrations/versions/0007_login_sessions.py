"""Logins kept on the server (login_sessions): a session cookie counts only while its row stands, so
logging out ends every copy of it. Cookies from before carry no login id and ask for a new login.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id', sa.String(length=43), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('account_user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('(user_id IS NULL) <> (account_user_id IS NULL)', name=op.f('ck_login_sessions_one_owner')),
        sa.ForeignKeyConstraint(['account_user_id'], ['account_users.id'],
                                name=op.f('fk_login_sessions_account_user_id_account_users'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_login_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_sessions')),
    )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_sessions_account_user_id'), ['account_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_sessions_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_login_sessions_account_user_id'))
    op.drop_table('login_sessions')
