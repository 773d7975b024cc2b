"""inbound events that could not be stored or applied after a few tries are set aside as dead
letters, shown to administrators, who retry or discard them (audited); a question handed to the
chatbot carries the time since which it waits for an answer (a sweep hands the ones left unanswered
to the agents).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_events", sa.Column("dead_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("webhook_events", sa.Column("discarded_at", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_webhook_events_dead", "webhook_events", ["dead_at"],
                    postgresql_where=sa.text("dead_at IS NOT NULL AND discarded_at IS NULL"),
                    sqlite_where=sa.text("dead_at IS NOT NULL AND discarded_at IS NULL"))
    op.add_column("conversations", sa.Column("bot_pending_since", UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_conversations_bot_pending", "conversations", ["bot_pending_since"],
                    postgresql_where=sa.text("bot_pending_since IS NOT NULL"),
                    sqlite_where=sa.text("bot_pending_since IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_conversations_bot_pending", table_name="conversations")
    op.drop_column("conversations", "bot_pending_since")
    op.drop_index("ix_webhook_events_dead", table_name="webhook_events")
    op.drop_column("webhook_events", "discarded_at")
    op.drop_column("webhook_events", "dead_at")
