"""API tokens with a scope (read, or read_write) and an optional expiry (issue 24).

Revision ID: 0025
Revises: 0024
"""
import sqlalchemy as sa
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('api_tokens', sa.Column('scope', sa.String(length=12), nullable=False, server_default='read_write'))
    op.add_column('api_tokens', sa.Column('expires_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scope')
