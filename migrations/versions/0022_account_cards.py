"""An account that pays its own way (a referred one, C1, or a detached one, A4) saves its client's card on its
own Billing page: a card form of Stripe's may belong to one account instead of an agency (issue 22).

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

OLD = ('agency_card', 'referral')
NEW = OLD + ('account_card',)


def _purposes(purposes):
    return "purpose IN (" + ", ".join(f"'{p}'" for p in purposes) + ")"


def upgrade():
    # card_setups has no triggers: SQLite's batch rebuild of it loses nothing.
    with op.batch_alter_table('card_setups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_card_setups_account_id_hosted_accounts'), 'hosted_accounts',
                                    ['account_id'], ['id'])
        batch_op.create_index(op.f('ix_card_setups_account_id'), ['account_id'], unique=False)
        batch_op.alter_column('agency_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('purpose', existing_type=sa.String(length=11), type_=sa.String(length=12),
                              existing_nullable=False)
        batch_op.drop_constraint(op.f('ck_card_setups_card_setup_purpose'), type_='check')
        batch_op.create_check_constraint('card_setup_purpose', _purposes(NEW))
        batch_op.create_check_constraint('one_owner', "(agency_id IS NULL) <> (account_id IS NULL)")


def downgrade():
    op.execute("DELETE FROM card_setups WHERE account_id IS NOT NULL")
    with op.batch_alter_table('card_setups', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_card_setups_one_owner'), type_='check')
        batch_op.drop_constraint(op.f('ck_card_setups_card_setup_purpose'), type_='check')
        batch_op.create_check_constraint('card_setup_purpose', _purposes(OLD))
        batch_op.alter_column('purpose', existing_type=sa.String(length=12), type_=sa.String(length=11),
                              existing_nullable=False)
        batch_op.alter_column('agency_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index(op.f('ix_card_setups_account_id'))
        batch_op.drop_constraint(op.f('fk_card_setups_account_id_hosted_accounts'), type_='foreignkey')
        batch_op.drop_column('account_id')
