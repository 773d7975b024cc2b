"""ledger rows without foreign-key checks on PostgreSQL: the launch of a 1,000,000-recipient
campaign spent half its time in them; deleting a contact or a campaign still deletes its ledger rows,
by trigger. SQLite keeps its foreign keys: dropping one there rebuilds the table, and dropping the
old table would cascade to the status history (the embedded mode's campaigns are small anyway).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Parent table, the ledger's column that points at it: deleting parents deletes their ledger rows.
PARENTS = [("contacts", "contact_id"), ("campaigns", "campaign_id")]


def _cascade(parent: str, column: str) -> list[str]:
    return [f"""
CREATE OR REPLACE FUNCTION cnss_delete_ledger_of_{parent}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM recipients WHERE {column} IN (SELECT id FROM gone);
    RETURN NULL;
END
$$
""", f"""
CREATE TRIGGER {parent}_delete_ledger AFTER DELETE ON {parent}
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cnss_delete_ledger_of_{parent}()
"""]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for parent, column in PARENTS:
        op.drop_constraint(f'fk_recipients_{column}_{parent}', 'recipients', type_='foreignkey')
        for statement in _cascade(parent, column):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for parent, column in PARENTS:
        op.execute(f"DROP TRIGGER IF EXISTS {parent}_delete_ledger ON {parent}")
        op.execute(f"DROP FUNCTION IF EXISTS cnss_delete_ledger_of_{parent}()")
        op.create_foreign_key(f'fk_recipients_{column}_{parent}', 'recipients', parent, [column], ['id'],
                              ondelete='CASCADE')
