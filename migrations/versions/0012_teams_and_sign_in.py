"""Agencies that join and teams that share them (issue 19): an agency's sign-up state and its 2FA rule;
a team role per agency user, a confirmed e-mail, a password that may be unset until the person sets it,
two-factor secrets and recovery codes; single-use links (confirm, set or reset a password, invitations,
a new e-mail); and what "Where you're signed in" shows of each login. Existing agencies are active and
their users the owners, with their e-mails confirmed.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TEAM_ROLES = "('owner', 'admin', 'billing', 'member')"


def _with_foreign_keys_off(change):
    """SQLite rebuilds a table to change a column or add a constraint; others refer to users and agencies, so foreign
    keys are off meanwhile (only outside a transaction) and checked after."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=OFF")
    change()
    if sqlite:
        problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild of users: {problems[:5]}")
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    def users():
        with op.batch_alter_table('agencies', schema=None) as batch_op:
            batch_op.add_column(sa.Column('state', sa.String(length=17), nullable=False, server_default='active'))
            batch_op.add_column(sa.Column('state_reason', sa.String(length=500), nullable=True))
            batch_op.add_column(sa.Column('state_changed_at', sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column('require_2fa', sa.Boolean(), nullable=False, server_default=sa.false()))
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.add_column(sa.Column('team_role', sa.String(length=7), nullable=True))
            batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column('totp_enabled_at', sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column('totp_last_counter', sa.BigInteger(), nullable=True))
            batch_op.alter_column('password_hash', existing_type=sa.String(length=255), nullable=True)
        op.execute("UPDATE users SET team_role = 'owner' WHERE role = 'agency'")
        op.execute("UPDATE users SET email_confirmed_at = created_at")
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.create_check_constraint(op.f('ck_users_team_role'), f"team_role IN {TEAM_ROLES}")
            batch_op.create_check_constraint(op.f('ck_users_team_role_of_agency_users'),
                                             "(role = 'agency') = (team_role IS NOT NULL)")
        with op.batch_alter_table('agencies', schema=None) as batch_op:
            batch_op.create_check_constraint(
                op.f('ck_agencies_agency_state'),
                "state IN ('confirming', 'awaiting_approval', 'active', 'rejected', 'suspended')")
    _with_foreign_keys_off(users)

    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authenticated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(), nullable=True))

    op.create_table(
        'user_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=14), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('team_role', sa.String(length=7), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("purpose IN ('confirm_email', 'set_password', 'reset_password', 'invite', 'change_email')",
                           name=op.f('ck_user_links_link_purpose')),
        sa.CheckConstraint(f"team_role IN {TEAM_ROLES}", name=op.f('ck_user_links_link_team_role')),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_user_links_agency_id_agencies'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_user_links_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_links_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_links')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_links_token_hash')),
    )
    with op.batch_alter_table('user_links', schema=None) as batch_op:
        batch_op.create_index('ix_user_links_user_purpose', ['user_id', 'purpose'], unique=False)
        batch_op.create_index('ix_user_links_agency_purpose', ['agency_id', 'purpose'], unique=False)

    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_codes_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash')),
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('recovery_codes')
    op.drop_table('user_links')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        for column in ('last_seen_at', 'user_agent', 'ip', 'authenticated_at'):
            batch_op.drop_column(column)

    def users():
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.drop_constraint(op.f('ck_users_team_role_of_agency_users'), type_='check')
            batch_op.drop_constraint(op.f('ck_users_team_role'), type_='check')
            for column in ('totp_last_counter', 'totp_enabled_at', 'totp_secret', 'email_confirmed_at', 'team_role'):
                batch_op.drop_column(column)
        with op.batch_alter_table('agencies', schema=None) as batch_op:
            batch_op.drop_constraint(op.f('ck_agencies_agency_state'), type_='check')
            for column in ('require_2fa', 'state_changed_at', 'state_reason', 'state'):
                batch_op.drop_column(column)
    _with_foreign_keys_off(users)
