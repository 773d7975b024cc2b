"""the agents' inbox: how far the agents have read each conversation (its unread count), and the
saved replies managers keep for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = UTCDateTime(timezone=True)
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("seen_message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                                      nullable=True))
    op.create_table(
        "saved_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL",
                                                          name="fk_saved_replies_created_by_users"), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.UniqueConstraint("title", name="uq_saved_replies_title"),
    )


def downgrade() -> None:
    op.drop_table("saved_replies")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("seen_message_id")
