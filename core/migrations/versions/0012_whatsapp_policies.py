"""WhatsApp's own failure codes as policies: a contact WhatsApp said twice is not on WhatsApp
(131026), one who refuses marketing messages (131050); the cursor of the events already judged is
kept in app_settings.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = UTCDateTime(timezone=True)
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("not_on_whatsapp_at", ts, nullable=True))
        batch.add_column(sa.Column("marketing_refused_at", ts, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("marketing_refused_at")
        batch.drop_column("not_on_whatsapp_at")
