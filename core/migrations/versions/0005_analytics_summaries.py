"""analytics summaries: recipient, delay and attribute statistics per campaign and hour, and the
triggers that mark a campaign for recomputation whenever its ledger rows change

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# A ledger row changed: its campaign's figures must be recomputed. An opt-out was recorded: the
# campaigns that messaged the person in the 31 days before may have caused it (the attribution
# window, REPLY_ATTRIBUTION_DAYS, is at most 30 days).
PG_TRIGGERS = [
    """
CREATE OR REPLACE FUNCTION cnss_mark_stats_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (campaign_id) SELECT DISTINCT campaign_id FROM changed ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER recipients_stats_dirty AFTER UPDATE ON recipients
REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION cnss_mark_stats_dirty()
""",
    """
CREATE OR REPLACE FUNCTION cnss_mark_opt_out_campaigns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (campaign_id)
    SELECT DISTINCT r.campaign_id FROM added e JOIN recipients r ON r.contact_id = e.contact_id
    WHERE e.status = 'opted_out' AND r.sent_at <= e.at AND r.sent_at >= e.at - interval '31 days'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
""",
    """
CREATE TRIGGER consent_events_stats_dirty AFTER INSERT ON consent_events
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION cnss_mark_opt_out_campaigns()
""",
]
SQLITE_TRIGGERS = [
    """
CREATE TRIGGER recipients_stats_dirty AFTER UPDATE ON recipients
BEGIN
    INSERT OR IGNORE INTO stats_dirty (campaign_id) VALUES (NEW.campaign_id);
END
""",
    """
CREATE TRIGGER consent_events_stats_dirty AFTER INSERT ON consent_events WHEN NEW.status = 'opted_out'
BEGIN
    INSERT OR IGNORE INTO stats_dirty (campaign_id)
    SELECT DISTINCT campaign_id FROM recipients WHERE contact_id = NEW.contact_id AND sent_at IS NOT NULL
    AND julianday(sent_at) <= julianday(NEW.at) AND julianday(sent_at) >= julianday(NEW.at) - 31;
END
""",
]


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stats_refreshed_at', core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('stats_refresh_seconds', sa.Double(), nullable=True))
    op.create_table('stats_dirty',
    sa.Column('campaign_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_stats_dirty'))
    )
    op.create_table('attribute_stats',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('hour', core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attribute', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('replied', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_attribute_stats_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'hour', 'attribute', 'value', 'status', name=op.f('pk_attribute_stats'))
    )
    with op.batch_alter_table('attribute_stats', schema=None) as batch_op:
        batch_op.create_index('ix_attribute_stats_hour', ['hour'], unique=False)

    op.create_table('delay_stats',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('hour', core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('bucket', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_delay_stats_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'hour', 'kind', 'bucket', name=op.f('pk_delay_stats'))
    )
    with op.batch_alter_table('delay_stats', schema=None) as batch_op:
        batch_op.create_index('ix_delay_stats_hour', ['hour'], unique=False)

    op.create_table('recipient_stats',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('hour', core.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=16), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('replied', sa.Integer(), nullable=False),
    sa.Column('opted_out', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_recipient_stats_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'hour', 'status', 'error_code', name=op.f('pk_recipient_stats'))
    )
    with op.batch_alter_table('recipient_stats', schema=None) as batch_op:
        batch_op.create_index('ix_recipient_stats_hour', ['hour'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # One statement-level trigger: a batch of 500 updated rows marks its campaign once.
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    # Existing campaigns get their summaries at the next refresh.
    op.execute("INSERT INTO stats_dirty (campaign_id) SELECT id FROM campaigns")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_stats_dirty ON consent_events")
        op.execute("DROP FUNCTION IF EXISTS cnss_mark_opt_out_campaigns()")
        op.execute("DROP TRIGGER IF EXISTS recipients_stats_dirty ON recipients")
        op.execute("DROP FUNCTION IF EXISTS cnss_mark_stats_dirty()")
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_events_stats_dirty")
        op.execute("DROP TRIGGER IF EXISTS recipients_stats_dirty")
    with op.batch_alter_table('recipient_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_recipient_stats_hour')

    op.drop_table('recipient_stats')
    with op.batch_alter_table('delay_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_delay_stats_hour')

    op.drop_table('delay_stats')
    with op.batch_alter_table('attribute_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_attribute_stats_hour')

    op.drop_table('attribute_stats')
    op.drop_table('stats_dirty')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('stats_refresh_seconds')
        batch_op.drop_column('stats_refreshed_at')
