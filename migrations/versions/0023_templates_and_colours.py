"""Templates editable, copying them into new accounts switched on and off, branding's accent colour (issue 23,
W1, W8).

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN on every database (no batch rebuild): rows that exist keep copying templates
    # (as they did) and get the default accent.
    op.add_column('brandings', sa.Column('accent_color', sa.String(length=7), nullable=False,
                                         server_default='#0e7c66'))
    op.add_column('brandings', sa.Column('add_templates', sa.Boolean(), nullable=False,
                                         server_default=sa.true()))
    op.add_column('email_templates', sa.Column('updated_at', sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column('email_templates', 'updated_at')
    op.drop_column('brandings', 'add_templates')
    op.drop_column('brandings', 'accent_color')
