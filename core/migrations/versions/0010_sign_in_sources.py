"""sign-in throttle per network address (recent failures, when the next attempt may come) and the
addresses each user signs in from.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = UTCDateTime(timezone=True)
    op.create_table(
        "sign_in_sources",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_failure_at", ts, nullable=False),
        sa.Column("retry_at", ts, nullable=True),
    )
    op.create_table(
        "known_sign_in_addresses",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE",
                                                       name="fk_known_sign_in_addresses_user_id_users"),
                  primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("last_success_at", ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("known_sign_in_addresses")
    op.drop_table("sign_in_sources")
