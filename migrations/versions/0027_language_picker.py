"""A hosted account's login page may offer its client a language picker, when the agency's branding allows it
(issue 26).

Revision ID: 0027
Revises: 0026
"""
import sqlalchemy as sa
from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('brandings', sa.Column('language_picker', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('brandings', schema=None) as batch_op:
        batch_op.drop_column('language_picker')
