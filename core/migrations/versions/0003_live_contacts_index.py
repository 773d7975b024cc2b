"""partial index on contacts that are not erased, for counts by consent

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_index("ix_contacts_consent_status")
        batch_op.create_index("ix_contacts_live_consent", ["consent_status"],
                              postgresql_where=sa.text("erased_at IS NULL"), sqlite_where=sa.text("erased_at IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_index("ix_contacts_live_consent")
        batch_op.create_index("ix_contacts_consent_status", ["consent_status"])
