"""the outbox: messages decided outside campaigns (confirmations, bot answers, agents' replies, test
sends) recorded in the deciding transaction and sent after commit by a worker, with the ledger's
claim, lease, reconciliation and bound.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import BigId, JSONType, UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = UTCDateTime(timezone=True)
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE",
                                                          name="fk_outbox_contact_id_contacts"), nullable=True),
        sa.Column("conversation_id", BigId,
                  sa.ForeignKey("conversations.id", ondelete="SET NULL",
                                name="fk_outbox_conversation_id_conversations"), nullable=True),
        sa.Column("message_id", BigId, sa.ForeignKey("messages.id", ondelete="SET NULL",
                                                     name="fk_outbox_message_id_messages"), nullable=True),
        sa.Column("template_id", sa.Integer, sa.ForeignKey("templates.id", ondelete="SET NULL",
                                                           name="fk_outbox_template_id_templates"), nullable=True),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL",
                                                        name="fk_outbox_actor_id_users"), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("template", JSONType, nullable=True),
        sa.Column("status", sa.String(15), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reconcile_tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", ts, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", ts, nullable=True),
        sa.Column("sending_at", ts, nullable=True),
        sa.Column("sent_at", ts, nullable=True),
        sa.Column("failed_at", ts, nullable=True),
        sa.Column("provider_message_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.String(500), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
    )
    op.create_index("ix_outbox_open", "outbox", ["status", "next_attempt_at"],
                    postgresql_where=sa.text("status IN ('pending', 'sending')"),
                    sqlite_where=sa.text("status IN ('pending', 'sending')"))
    op.create_index("ix_outbox_open_phone", "outbox", ["phone", "id"],
                    postgresql_where=sa.text("status IN ('pending', 'sending')"),
                    sqlite_where=sa.text("status IN ('pending', 'sending')"))
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])
    op.create_index("ix_outbox_provider_message_id", "outbox", ["provider_message_id"])
    op.create_index("ix_outbox_template_created", "outbox", ["template_id", "created_at"])


def downgrade() -> None:
    op.drop_table("outbox")
