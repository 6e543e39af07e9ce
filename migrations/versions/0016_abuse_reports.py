"""Abuse and bounce reports (issue 21, S6 and N3): support files a report against a hosted account (kind,
severity, description, evidence, an optional sample message); the agency acknowledges it with a reply;
support closes it, and may disable the account for abuse (when is kept on the report).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'abuse_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=6), nullable=False),
        sa.Column('severity', sa.String(length=6), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('evidence', sa.Text(), nullable=False),
        sa.Column('sample_message', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('filed_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
        sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
        sa.Column('agency_reply', sa.Text(), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('account_disabled_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('abuse', 'bounce')", name=op.f('ck_abuse_reports_report_kind')),
        sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f('ck_abuse_reports_report_severity')),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name=op.f('ck_abuse_reports_report_status')),
        sa.ForeignKeyConstraint(['account_id'], ['hosted_accounts.id'],
                                name=op.f('fk_abuse_reports_account_id_hosted_accounts')),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name=op.f('fk_abuse_reports_agency_id_agencies')),
        sa.ForeignKeyConstraint(['filed_by_id'], ['users.id'], name=op.f('fk_abuse_reports_filed_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'],
                                name=op.f('fk_abuse_reports_acknowledged_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_abuse_reports_closed_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_abuse_reports')),
    )
    with op.batch_alter_table('abuse_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_abuse_reports_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_abuse_reports_agency_status', ['agency_id', 'status'], unique=False)
        batch_op.create_index('ix_abuse_reports_status_created', ['status', 'created_at'], unique=False)


def downgrade():
    op.drop_table('abuse_reports')
