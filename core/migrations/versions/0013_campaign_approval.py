"""campaign approval: submitted by one person, approved or rejected (with a comment) by another;
a spending cap per campaign (FCFA); whether people contacted in the last N days are left out; and
the date after which its messages no longer leave.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = UTCDateTime(timezone=True)
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("approval_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("submitted_by", sa.Integer, nullable=True))
        batch.add_column(sa.Column("submitted_at", ts, nullable=True))
        batch.add_column(sa.Column("decided_by", sa.Integer, nullable=True))
        batch.add_column(sa.Column("decided_at", ts, nullable=True))
        batch.add_column(sa.Column("approval_comment", sa.Text, nullable=True))
        batch.add_column(sa.Column("approved_recipients", sa.Integer, nullable=True))
        batch.add_column(sa.Column("budget_fcfa", sa.Float, nullable=True))
        batch.add_column(sa.Column("exclude_recent_days", sa.Integer, nullable=True))
        batch.add_column(sa.Column("ends_at", ts, nullable=True))
        batch.create_foreign_key("fk_campaigns_submitted_by_users", "users", ["submitted_by"], ["id"],
                                 ondelete="SET NULL")
        batch.create_foreign_key("fk_campaigns_decided_by_users", "users", ["decided_by"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint("fk_campaigns_decided_by_users", type_="foreignkey")
        batch.drop_constraint("fk_campaigns_submitted_by_users", type_="foreignkey")
        for column in ("ends_at", "exclude_recent_days", "budget_fcfa", "approved_recipients", "approval_comment", "decided_at", "decided_by", "submitted_at", "submitted_by",
                       "approval_status"):
            batch.drop_column(column)
