"""The agency's parent account is a real hosted account, and a send-e-mail step carries its template (issue 23,
P1-P3).

Revision ID: 0024
Revises: 0023
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    # No schema change: the parent account is a hosted_accounts row of kind 'parent' (one per agency, an
    # index already says so), made with each new agency and made real lazily for the agencies of before
    # (services.pushdown.parent_account: its admin, the owner's e-mail, branding, templates); a
    # send-e-mail step's message lives in automation_versions.steps (JSON).
    pass


def downgrade():
    pass
