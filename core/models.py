"""SQLAlchemy 2 typed models for the whole product.

Times are stored in UTC and always returned timezone-aware; screens convert them to
Africa/Libreville. JSON columns are JSONB on PostgreSQL and JSON text on SQLite.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only gives an autoincrementing rowid to INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


def table(model: type[Base]) -> Table:
    """The table behind a mapped class, for Core statements (executemany, INSERT ... SELECT) that
    skip the ORM's bookkeeping on hot paths."""
    return cast(Table, model.__table__)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- vocabularies ----------------------------------------------------------------------------


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class ConsentStatus(enum.StrEnum):
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    UNKNOWN = "unknown"


class SegmentKind(enum.StrEnum):
    STATIC = "static"
    DYNAMIC = "dynamic"


class TemplateCategory(enum.StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


class TemplateStatus(enum.StrEnum):
    APPROVED = "APPROVED"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    IN_APPEAL = "IN_APPEAL"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class TemplateQuality(enum.StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RecipientStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    WAITING_AGENT = "waiting_agent"
    AGENT = "agent"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageAuthor(enum.StrEnum):
    CONTACT = "contact"
    BOT = "bot"
    AGENT = "agent"
    CAMPAIGN = "campaign"
    SYSTEM = "system"


def _enum_col(enum_cls: type[enum.StrEnum], default: enum.StrEnum | None = None, **kw: Any) -> Any:
    """Enums are stored as plain strings: adding a value never needs a database migration."""
    length = max(len(m.value) for m in enum_cls) + 8
    if default is not None:
        kw["default"] = default.value
        kw["server_default"] = default.value
    return mapped_column(String(length), **kw)


# --- people who use the app ------------------------------------------------------------------


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = _enum_col(Role)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]


class SignInSource(Base):
    """Recent sign-in attempts from one network address that did not succeed: each past the first
    few makes the next attempt from there wait longer (1 s, 2 s, 4 s... up to 5 minutes)."""

    __tablename__ = "sign_in_sources"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure_at: Mapped[datetime]
    retry_at: Mapped[datetime | None]


class KnownSignInAddress(Base):
    """An address a user signed in from: the one kind of address a lock on their account spares."""

    __tablename__ = "known_sign_in_addresses"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_success_at: Mapped[datetime]


class AuditLog(Base):
    """Who did what, when. Written in the same transaction as the change it describes."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)


class Setting(Base):
    """Runtime settings an administrator changes from the app (chatbot on/off, prices...)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# --- contacts, consent, segments -------------------------------------------------------------


class Contact(Timestamped, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164, normalized at the edge
    first_name: Mapped[str | None] = mapped_column(String(120))
    last_name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="fr", server_default="fr")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    consent_status: Mapped[str] = _enum_col(ConsentStatus, ConsentStatus.UNKNOWN)
    consent_source: Mapped[str | None] = mapped_column(String(64))
    consent_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    window_expires_at: Mapped[datetime | None]  # end of the 24-hour customer service window
    provider_contact_id: Mapped[str | None] = mapped_column(String(64))
    last_inbound_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    # WhatsApp's verdicts (core/policies.py): undeliverable twice (131026), left out of campaigns
    # until cleared; refuses marketing messages (131050), left out of marketing campaigns only.
    not_on_whatsapp_at: Mapped[datetime | None]
    marketing_refused_at: Mapped[datetime | None]
    # Names, phone forms and attribute values, lower-cased and accent-folded, for substring search
    # (a trigram index on PostgreSQL).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (
        # Counts by consent of the contacts not erased: index-only scans at a million rows.
        Index("ix_contacts_live_consent", "consent_status", postgresql_where=text("erased_at IS NULL"),
              sqlite_where=text("erased_at IS NULL")),
        Index("ix_contacts_last_name_first_name", "last_name", "first_name"),
        Index("ix_contacts_created_at", "created_at"),
        Index("ix_contacts_search_text_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )


class ConsentEvent(Base):
    """Consent history: every opt-in, opt-out and its source, never overwritten."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = _enum_col(ConsentStatus)
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Timestamped, Base):
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = _enum_col(SegmentKind, SegmentKind.STATIC)
    rules: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # dynamic segments only
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SegmentMember(Base):
    __tablename__ = "segment_members"

    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_segment_members_contact_id", "contact_id"),)


# --- templates and campaigns -----------------------------------------------------------------


class Template(Timestamped, Base):
    """A WhatsApp message template as WhatsApp defines it."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16), default="fr", server_default="fr")
    category: Mapped[str] = _enum_col(TemplateCategory)
    status: Mapped[str] = _enum_col(TemplateStatus, TemplateStatus.PENDING)
    quality: Mapped[str] = _enum_col(TemplateQuality, TemplateQuality.UNKNOWN)
    header: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # {"format": "TEXT"|"IMAGE"..., "text": ...}
    body: Mapped[str] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(String(60))
    buttons: Mapped[list[Any]] = mapped_column(default=list)
    variable_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_template_id: Mapped[str | None] = mapped_column(String(64))
    synced_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("name", "language", name="uq_templates_name_language"),)


class Campaign(Timestamped, Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = _enum_col(CampaignStatus, CampaignStatus.DRAFT)
    status_reason: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="RESTRICT"), index=True)
    variable_mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    include_segment_ids: Mapped[list[Any]] = mapped_column(default=list)
    exclude_segment_ids: Mapped[list[Any]] = mapped_column(default=list)
    parent_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    retarget: Mapped[str | None] = mapped_column(String(32))  # not_delivered | not_read | failed
    scheduled_at: Mapped[datetime | None]
    quiet_hours_start: Mapped[str | None] = mapped_column(String(5))  # HH:MM, Libreville time
    quiet_hours_end: Mapped[str | None] = mapped_column(String(5))
    rate_limit: Mapped[int | None] = mapped_column(Integer)  # messages per second, None = provider max
    launched_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    total_recipients: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    stats_refreshed_at: Mapped[datetime | None]  # analytics summaries (core/stats.py) last recomputed
    stats_refresh_seconds: Mapped[float | None]  # and what that took
    # Approval (core/approval.py): submitted by one person, decided by another; None when not asked.
    approval_status: Mapped[str | None] = mapped_column(String(16))  # submitted | approved | rejected
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    approval_comment: Mapped[str | None] = mapped_column(Text)
    approved_recipients: Mapped[int | None] = mapped_column(Integer)  # the audience as approved: no more may leave
    budget_fcfa: Mapped[float | None] = mapped_column(Float)  # sending pauses when the spend estimate reaches it
    exclude_recent_days: Mapped[int | None] = mapped_column(Integer)  # people sent a message within: left out
    ends_at: Mapped[datetime | None]  # no message leaves after this (a payment date gone by); None: no end

    template: Mapped[Template | None] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
        Index("ix_campaigns_created_at", "created_at"),
    )


class Recipient(Base):
    """The per-recipient ledger: one row per (campaign, contact), the single source of truth."""

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys here: launch writes every row from the campaign and contacts it has just read,
    # and the per-row checks were half the time of a 1,000,000-row launch (13.6 of 28.9 s). The
    # cascade on deletion is kept by triggers on contacts and campaigns (migration 0006; SQLite keeps
    # its foreign keys).
    campaign_id: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(BigId)
    phone: Mapped[str] = mapped_column(String(20))  # E.164 frozen at launch
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rendered template parameters
    status: Mapped[str] = _enum_col(RecipientStatus, RecipientStatus.PENDING)
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reconcile_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # lookups that taught nothing
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_recipients_campaign_contact"),
        Index("ix_recipients_campaign_status", "campaign_id", "status"),
        # Partial indexes: a launch writes its rows pending, with no message id and no send time, so
        # they cost it nothing; the rows they serve (in flight, sent) are the few that need them.
        Index("ix_recipients_sending_lease", "lease_expires_at", postgresql_where=text("status = 'sending'"),
              sqlite_where=text("status = 'sending'")),
        Index("ix_recipients_provider_message_id", "provider_message_id",
              postgresql_where=text("provider_message_id IS NOT NULL"),
              sqlite_where=text("provider_message_id IS NOT NULL")),
        Index("ix_recipients_contact_id", "contact_id"),
        Index("ix_recipients_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL"),
              sqlite_where=text("sent_at IS NOT NULL")),
    )


class StatusEvent(Base):
    """Every status a message went through, with its time, for time-to-delivery and time-to-read."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = _enum_col(RecipientStatus)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # webhook | poll | provider | sandbox
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_status_events_recipient_id", "recipient_id"),
        Index("ix_status_events_occurred_at", "occurred_at"),
    )


# --- analytics summaries (core/stats.py keeps them exact) -------------------------------------

class RecipientStats(Base):
    """Ledger rows of a campaign by UTC hour of the send attempt, status and WhatsApp error code."""

    __tablename__ = "recipient_stats"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(16), primary_key=True)  # '' when none
    n: Mapped[int] = mapped_column(Integer)
    replied: Mapped[int] = mapped_column(Integer)
    opted_out: Mapped[int] = mapped_column(Integer)  # opted out within REPLY_ATTRIBUTION_DAYS of the message

    __table_args__ = (Index("ix_recipient_stats_hour", "hour"),)


class DelayStats(Base):
    """Histogram of seconds from sending to delivery (`kind` delivery) or to reading (read)."""

    __tablename__ = "delay_stats"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)  # lower edge, seconds
    n: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_delay_stats_hour", "hour"),)


class AttributeStats(Base):
    """Ledger rows by UTC hour, contact attribute value (ANALYTICS_ATTRIBUTES) and status."""

    __tablename__ = "attribute_stats"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    attribute: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)  # '' when the contact has none
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    replied: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_attribute_stats_hour", "hour"),)


class StatsDirty(Base):
    """Campaigns whose ledger changed since their summaries were computed (filled by triggers)."""

    __tablename__ = "stats_dirty"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


# --- inbound: webhooks, conversations, messages ----------------------------------------------


class WebhookEvent(Base):
    """A verified Respond.io webhook, stored raw before it is acknowledged."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None]  # set aside after MAX_ATTEMPTS failures (or unstorable as it came)
    discarded_at: Mapped[datetime | None]  # an administrator looked at it and let it go

    __table_args__ = (
        Index("ix_webhook_events_pending", "processed_at", "id"),
        Index("ix_webhook_events_received_at", "received_at"),
        Index("ix_webhook_events_dead", "dead_at",
              postgresql_where=text("dead_at IS NOT NULL AND discarded_at IS NULL"),
              sqlite_where=text("dead_at IS NOT NULL AND discarded_at IS NULL")),
    )


class Conversation(Timestamped, Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = _enum_col(ConversationStatus, ConversationStatus.BOT)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handoff_reason: Mapped[str | None] = mapped_column(String(64))
    handed_over_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
    provider_conversation_id: Mapped[str | None] = mapped_column(String(64))
    # A question handed to the chatbot and not yet answered or handed over, since then (the sweep
    # hands it to the agents when no answer came: a worker killed between the question and the answer).
    bot_pending_since: Mapped[datetime | None]
    # The last message an agent had on screen: the ones after it are unread (for every agent).
    seen_message_id: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (Index("ix_conversations_status_last_message_at", "status", "last_message_at"),
                      Index("ix_conversations_bot_pending", "bot_pending_since",
                            postgresql_where=text("bot_pending_since IS NOT NULL"),
                            sqlite_where=text("bot_pending_since IS NOT NULL")))


class SavedReply(Timestamped, Base):
    """A reply managers wrote once for the agents, inserted and edited before it is sent."""

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(80), unique=True)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Message(Base):
    """A message in a conversation: the person's, the bot's, an agent's or a campaign's."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    direction: Mapped[str] = _enum_col(Direction)
    author: Mapped[str] = _enum_col(MessageAuthor)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(Text)
    message_type: Mapped[str] = mapped_column(String(32), default="text", server_default="text")
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    sources: Mapped[list[Any]] = mapped_column(default=list)  # the passages a bot answer used
    status: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_contact_created", "contact_id", "created_at"),
        Index("ix_messages_campaign_id", "campaign_id"),
        Index("ix_messages_created_at", "created_at"),
    )


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


_OUTBOX_OPEN = text("status IN ('pending', 'sending')")  # (in the class body, `text` is a column)


class OutboxMessage(Base):
    """A message decided outside campaigns (a confirmation, a bot answer, an agent's reply, a test
    send), recorded in the transaction that decides it and sent after commit by a worker, under the
    ledger's rules: claimed with a lease, looked up at the provider before any resend, and final
    (`sent` or `failed`) within a bound."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))  # opt_out_confirmation, bot_answer, agent_reply, ...
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    phone: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))  # text | template
    text: Mapped[str | None] = mapped_column(Text)
    template: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # name, language, components
    status: Mapped[str] = _enum_col(OutboxStatus, default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reconcile_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    message: Mapped[Message | None] = relationship()  # its line in the conversation, when it has one

    __table_args__ = (
        Index("ix_outbox_open", "status", "next_attempt_at", postgresql_where=_OUTBOX_OPEN, sqlite_where=_OUTBOX_OPEN),
        Index("ix_outbox_open_phone", "phone", "id", postgresql_where=_OUTBOX_OPEN, sqlite_where=_OUTBOX_OPEN),
        Index("ix_outbox_message_id", "message_id"),
        Index("ix_outbox_provider_message_id", "provider_message_id"),
        Index("ix_outbox_template_created", "template_id", "created_at"),
    )


# --- knowledge base and chatbot --------------------------------------------------------------


class KnowledgeDocument(Timestamped, Base):
    __tablename__ = "kb_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    content_hash: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    indexed_at: Mapped[datetime | None]
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


OUT_OF_SCOPE_TOPIC = "Hors du champ des documents"


def chatbot_topic(sources: list[dict[str, Any]], refused: bool) -> str | None:
    """The topic a question is counted under: the title of the document its answer relied on most
    (the knowledge base is organized by subject), or out of scope when the bot refused."""
    if refused:
        return OUT_OF_SCOPE_TOPIC
    titles = [str(s.get("title") or "").strip() for s in sources]
    return next((t[:64] for t in titles if t), None)


class ChatbotInteraction(Base):
    """One question put to the chatbot, from WhatsApp or the playground, and what it answered."""

    __tablename__ = "chatbot_interactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # whatsapp | playground | cli
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    refused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    handed_over: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    extractive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    sources: Mapped[list[Any]] = mapped_column(default=list)
    top_score: Mapped[float | None]
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    topic: Mapped[str | None] = mapped_column(String(64))
    feedback: Mapped[int | None] = mapped_column(Integer)  # +1 / -1
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_chatbot_interactions_created_at", "created_at"),)
