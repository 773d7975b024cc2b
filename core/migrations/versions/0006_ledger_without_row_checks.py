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

PG_TRIGGERS = [
    """
CREATE OR REPLACE FUNCTION cnss_delete_ledger_of_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM recipients WHERE contact_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER contacts_delete_ledger AFTER DELETE ON contacts
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cnss_delete_ledger_of_contacts()
""",
    """
CREATE OR REPLACE FUNCTION cnss_delete_ledger_of_campaigns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM recipients WHERE campaign_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER campaigns_delete_ledger AFTER DELETE ON campaigns
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION cnss_delete_ledger_of_campaigns()
""",
]
def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint('fk_recipients_campaign_id_campaigns', 'recipients', type_='foreignkey')
    op.drop_constraint('fk_recipients_contact_id_contacts', 'recipients', type_='foreignkey')
    for statement in PG_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS contacts_delete_ledger ON contacts")
    op.execute("DROP TRIGGER IF EXISTS campaigns_delete_ledger ON campaigns")
    op.execute("DROP FUNCTION IF EXISTS cnss_delete_ledger_of_contacts()")
    op.execute("DROP FUNCTION IF EXISTS cnss_delete_ledger_of_campaigns()")
    op.create_foreign_key('fk_recipients_campaign_id_campaigns', 'recipients', 'campaigns', ['campaign_id'], ['id'],
                          ondelete='CASCADE')
    op.create_foreign_key('fk_recipients_contact_id_contacts', 'recipients', 'contacts', ['contact_id'], ['id'],
                          ondelete='CASCADE')
