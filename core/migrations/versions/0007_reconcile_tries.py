"""ledger rows count their reconciliations: a send whose outcome is unknown is looked up a bounded
number of times, then failed as `unverified`, so that no row stays `sending` for good.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL 11+ and SQLite add it without rewriting the table.
    op.add_column("recipients", sa.Column("reconcile_tries", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("recipients", "reconcile_tries")
