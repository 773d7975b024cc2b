"""partial indexes on the ledger: rows in flight, with a message id, sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, object]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.drop_index("ix_recipients_status_lease")
        batch_op.drop_index("ix_recipients_provider_message_id")
        batch_op.drop_index("ix_recipients_sent_at")
        batch_op.create_index("ix_recipients_sending_lease", ["lease_expires_at"], **_where("status = 'sending'"))
        batch_op.create_index("ix_recipients_provider_message_id", ["provider_message_id"],
                              **_where("provider_message_id IS NOT NULL"))
        batch_op.create_index("ix_recipients_sent_at", ["sent_at"], **_where("sent_at IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.drop_index("ix_recipients_sent_at")
        batch_op.drop_index("ix_recipients_provider_message_id")
        batch_op.drop_index("ix_recipients_sending_lease")
        batch_op.create_index("ix_recipients_sent_at", ["sent_at"])
        batch_op.create_index("ix_recipients_provider_message_id", ["provider_message_id"])
        batch_op.create_index("ix_recipients_status_lease", ["status", "lease_expires_at"])
