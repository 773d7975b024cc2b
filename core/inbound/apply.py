"""Stored events applied, in arrival order: delivery statuses in one pass per batch, messages,
contact and conversation events one by one. What needs the chatbot is handed back to the worker
as a `Followup` (core never imports the chatbot)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from core import audit, messaging, statuses
from core.config import get_settings
from core.contacts.search import search_text_for
from core.errors import UserError
from core.inbound.dead_letters import error_text
from core.inbound.edge import NAME_MAX, TYPE_MAX, fit
from core.inbound.grammar import (
    ASKS_FOR_YES,
    HANDOFF_NOTICE,
    OPT_IN_CONFIRMATION,
    OPT_OUT_CONFIRMATION,
    RESUBSCRIBE_WORDS,
    explicit_opt_in,
    keyword,
)
from core.inbound.store import MAX_ATTEMPTS, claim
from core.logs import mask_phone
from core.models import (
    ConsentEvent,
    ConsentStatus,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    Recipient,
    RecipientStatus,
    WebhookEvent,
)
from core.phones import normalize
from core.respondio import whatsapp_code_of
from core.text import fold
from core.timeutil import utcnow

log = logging.getLogger(__name__)


def _one_of(session: Session, column: Any, values: list[Any], element_type: Any) -> Any:
    """`column IN values`: on PostgreSQL one array parameter (`= ANY`), which stays cheap to build
    and to parse for hundreds of values."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(element_type)))
    return column.in_(values)


@dataclass(frozen=True)
class Followup:
    """An inbound question for the chatbot, to be answered after the event's transaction."""

    conversation_id: int
    contact_id: int
    message_id: int
    text: str


@dataclass
class Processed:
    applied: int = 0
    failed: int = 0
    ignored: int = 0
    followups: list[Followup] = field(default_factory=list)


def _timestamp(value: Any, default: datetime) -> datetime:
    """Respond.io gives epoch seconds or milliseconds, sometimes ISO text."""
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if number > 1e12:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return default


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    message = payload.get("message")
    return message if isinstance(message, dict) else {}


def _contact_payload(payload: dict[str, Any]) -> dict[str, Any]:
    contact = payload.get("contact")
    return contact if isinstance(contact, dict) else {}


def _text_of(message: dict[str, Any]) -> tuple[str, str]:
    """(type, text) of an inbound message, whatever shape the content has."""
    content = message.get("message")
    if isinstance(content, dict):
        kind = str(content.get("type") or "text")
        if kind == "text":
            return kind, str(content.get("text") or "")
        attachment = content.get("attachment")
        label = attachment.get("type") if isinstance(attachment, dict) else None
        caption = (attachment or {}).get("caption") if isinstance(attachment, dict) else None
        return kind, str(caption or f"[{label or kind}]")
    if isinstance(content, str):
        return "text", content
    return "text", str(message.get("text") or "")


def _asked_for_yes(session: Session, contact: Contact, before_id: int) -> bool:
    """Whether the last message we sent this person asked them to answer OUI."""
    last = session.scalar(select(Message.text).where(Message.contact_id == contact.id,
                                                     Message.direction == Direction.OUTBOUND,
                                                     Message.id < before_id)
                          .order_by(Message.id.desc()).limit(1))
    folded = fold(last or "")
    return ASKS_FOR_YES.search(folded) is not None and any(w in folded for w in RESUBSCRIBE_WORDS)


def contact_for(session: Session, raw_phone: Any, contact_data: dict[str, Any], *, now: datetime) -> Contact | None:
    """The contact with this phone, created (consent unknown) when the person is new to us."""
    phone = normalize(raw_phone).e164
    if phone is None:
        return None
    contact = session.scalar(select(Contact).where(Contact.phone == phone))
    first = fit(str(contact_data.get("firstName") or "").strip() or None, NAME_MAX)
    last = fit(str(contact_data.get("lastName") or "").strip() or None, NAME_MAX)
    provider_id = str(contact_data["id"]) if contact_data.get("id") is not None else None
    if contact is None:
        contact = Contact(phone=phone, first_name=first, last_name=last, attributes={},
                          consent_status=ConsentStatus.UNKNOWN, consent_source="whatsapp",
                          provider_contact_id=provider_id, created_at=now, updated_at=now,
                          search_text=search_text_for(first, last, phone, {}))
        session.add(contact)
        session.flush()
        log.info("New contact %s created from an inbound event", mask_phone(phone))
    elif provider_id and contact.provider_contact_id != provider_id:
        contact.provider_contact_id = provider_id
    return contact


def open_conversation(session: Session, contact: Contact, *, now: datetime) -> Conversation:
    conversation = session.scalar(select(Conversation).where(
        Conversation.contact_id == contact.id, Conversation.status != ConversationStatus.CLOSED)
        .order_by(Conversation.id.desc()).limit(1))
    if conversation is None:
        conversation = Conversation(contact_id=contact.id, status=ConversationStatus.BOT, last_message_at=now,
                                    created_at=now, updated_at=now)
        session.add(conversation)
        session.flush()
    return conversation


def hand_over(conversation: Conversation, reason: str, *, now: datetime | None = None) -> None:
    """The conversation waits for a human (unless one already has it)."""
    if conversation.status in (ConversationStatus.WAITING_AGENT, ConversationStatus.AGENT):
        return
    conversation.status = ConversationStatus.WAITING_AGENT
    conversation.handoff_reason = reason
    conversation.handed_over_at = now or utcnow()
    conversation.handled_at = None


def _attribute_reply(session: Session, contact: Contact, message: Message, at: datetime) -> None:
    days = get_settings().reply_attribution_days
    recipient = session.scalar(
        select(Recipient).where(Recipient.contact_id == contact.id, Recipient.sent_at.is_not(None),
                                Recipient.sent_at <= at, Recipient.sent_at >= at - timedelta(days=days),
                                Recipient.status.in_([RecipientStatus.SENT, RecipientStatus.DELIVERED,
                                                      RecipientStatus.READ]))
        .order_by(Recipient.sent_at.desc()).limit(1))
    if recipient is None:
        return
    message.campaign_id = recipient.campaign_id
    if recipient.replied_at is None:
        recipient.replied_at = at


def _set_consent(session: Session, contact: Contact, status: str, word: str, at: datetime) -> bool:
    if contact.consent_status == status:
        return False

    previous = contact.consent_status
    contact.consent_status = status
    contact.consent_source = "whatsapp"
    contact.consent_at = at
    contact.opted_out_at = at if status == ConsentStatus.OPTED_OUT else None
    reason = f"Mot-clé « {word[:40]} » reçu par WhatsApp"
    session.add(ConsentEvent(contact_id=contact.id, status=status, source="whatsapp", reason=reason, at=at))
    audit.record(session, "consent_opt_out" if status == ConsentStatus.OPTED_OUT else "consent_opt_in",
                 actor=None, actor_email="whatsapp", target_type="contact", target_id=contact.id,
                 details={"from": previous, "to": status, "reason": reason})
    log.info("Contact %s %s by WhatsApp keyword", mask_phone(contact.phone),
             "opted out" if status == ConsentStatus.OPTED_OUT else "opted back in")
    return True


def notify(session: Session, contact: Contact, conversation: Conversation | None, body: str,
           purpose: str = "system") -> None:
    """A short system message in the open window, recorded in this transaction and sent after its
    commit by the outbox (a batch replayed event by event sends it once); a refusal is logged."""
    try:
        messaging.send_text(session, contact, body, author="system", purpose=purpose,
                            conversation_id=conversation.id if conversation else None)
    except UserError as err:
        log.warning("System message to %s not sent: %s", mask_phone(contact.phone), err)


def receive_message(session: Session, payload: dict[str, Any], *, now: datetime | None = None) -> Followup | None:
    """A message from a person: stored, window opened, keywords honoured; returns the question for
    the chatbot when the conversation is the bot's."""
    now = now or utcnow()
    data = _message(payload)
    contact_data = _contact_payload(payload)
    at = _timestamp(data.get("timestamp"), now)
    contact = contact_for(session, contact_data.get("phone"), contact_data, now=now)
    if contact is None:
        log.warning("Inbound message ignored: no usable phone number in the event")
        return None
    kind, body = _text_of(data)
    message_id = str(data.get("messageId")) if data.get("messageId") is not None else None
    if message_id and session.scalar(select(Message.id).where(Message.provider_message_id == message_id,
                                                              Message.direction == "inbound")):
        return None  # the same message under another event id
    conversation = open_conversation(session, contact, now=now)
    message = Message(conversation_id=conversation.id, contact_id=contact.id, direction="inbound", author="contact",
                      text=body, message_type=fit(kind, TYPE_MAX), provider_message_id=fit(message_id, 64),
                      created_at=at)
    session.add(message)
    expires = at + timedelta(hours=24)
    if contact.window_expires_at is None or contact.window_expires_at < expires:
        contact.window_expires_at = expires
    if contact.last_inbound_at is None or contact.last_inbound_at < at:
        contact.last_inbound_at = at
    conversation.last_message_at = max(conversation.last_message_at or at, at)
    contact.updated_at = now
    _attribute_reply(session, contact, message, at)
    session.flush()
    if contact.erased_at is not None:
        return None
    said = keyword(body) if kind == "text" else None
    if said == "opt_out":
        if _set_consent(session, contact, ConsentStatus.OPTED_OUT, body.strip(), at):
            notify(session, contact, conversation, OPT_OUT_CONFIRMATION, "opt_out_confirmation")
        return None
    if said == "opt_in" and not explicit_opt_in(body) and not _asked_for_yes(session, contact, message.id):
        said = None  # a "oui" that answers anything else is not a re-subscription
    if said == "opt_in":
        if contact.consent_status == ConsentStatus.OPTED_OUT and _set_consent(
                session, contact, ConsentStatus.OPTED_IN, body.strip(), at):
            notify(session, contact, conversation, OPT_IN_CONFIRMATION, "opt_in_confirmation")
            return None
    if said == "handoff":
        if conversation.status == ConversationStatus.BOT:
            hand_over(conversation, "requested", now=now)
            notify(session, contact, conversation, HANDOFF_NOTICE, "handover_notice")
        return None
    if conversation.status != ConversationStatus.BOT:
        return None  # an agent has it or will: the message waits in the inbox
    if not get_settings().chatbot_enabled or kind != "text" or not body.strip():
        hand_over(conversation, "bot_disabled" if kind == "text" else "attachment", now=now)
        return None
    conversation.bot_pending_since = now
    return Followup(conversation.id, contact.id, message.id, body)


def apply_statuses(session: Session, events: list[WebhookEvent], *, now: datetime) -> int:
    """`message.sent` events: the campaign ledger (or an agent's message) moves forward, the whole
    batch in a few statements. A status for a message the ledger does not know yet (its send not
    recorded yet) is not lost: the poller asks for it later."""
    wanted: dict[str, list[tuple[str, datetime, str | None, str | None]]] = {}
    for event in events:
        data = _message(event.payload)
        message_id = data.get("messageId")
        if message_id is None:
            continue
        entries: list[Any] = data["status"] if isinstance(data.get("status"), list) else []
        if not entries and data.get("traffic") in (None, "outgoing"):
            entries = [{"value": "sent", "timestamp": data.get("timestamp")}]
        for item in entries:
            if isinstance(item, dict) and item.get("value"):
                error = item.get("message")
                wanted.setdefault(str(message_id), []).append(
                    (str(item["value"]).lower(), _timestamp(item.get("timestamp"), now),
                     whatsapp_code_of({"message": error}) if error else None, str(error)[:500] if error else None))
    if not wanted:
        return 0
    changed, matched = statuses.apply_many(session, wanted, source="webhook")
    for message_id in matched:
        wanted.pop(message_id, None)
    if wanted:  # messages of agents, the bot or the system
        rank = {"sent": 1, "delivered": 2, "read": 3}
        others = select(Message).where(_one_of(session, Message.provider_message_id, list(wanted), String()),
                                       Message.direction == "outbound")
        for message in session.scalars(others).all():
            for value, _at, code, _text in wanted.get(message.provider_message_id or "", []):
                if value == "failed" and message.status in (None, "sent"):
                    message.status, message.error_code = "failed", code
                    changed += 1
                elif rank.get(value, 0) > rank.get(message.status or "", 0):
                    message.status = value
                    changed += 1
    return changed


def apply_contact_event(session: Session, event_type: str, payload: dict[str, Any], *, now: datetime) -> None:
    data = _contact_payload(payload)
    contact = contact_for(session, data.get("phone"), data, now=now)
    if contact is None:
        return
    if event_type in ("contact.created", "contact.updated"):
        for key, column in (("firstName", "first_name"), ("lastName", "last_name")):
            value = str(data.get(key) or "").strip()
            if value:
                setattr(contact, column, fit(value, NAME_MAX))
        language = str(data.get("language") or "").strip().lower()
        if language in ("fr", "en"):
            contact.language = language
    attributes = dict(contact.attributes or {})
    if event_type == "contact.tag.updated" and isinstance(data.get("tags"), list):
        attributes["respondio_tags"] = ", ".join(str(t) for t in data["tags"])
    elif event_type == "contact.lifecycle.updated":
        lifecycle = data.get("lifecycle") or payload.get("lifecycle")
        if lifecycle:
            attributes["respondio_lifecycle"] = str(lifecycle)
    elif event_type == "contact.assignee.updated":
        assignee = data.get("assignee") or payload.get("assignee")
        if isinstance(assignee, dict):
            assignee = " ".join(str(assignee.get(k) or "") for k in ("firstName", "lastName")).strip() or \
                assignee.get("email")
        if assignee:
            attributes["respondio_assignee"] = str(assignee)
    if attributes != (contact.attributes or {}):
        contact.attributes = attributes
    contact.search_text = search_text_for(contact.first_name, contact.last_name, contact.phone, contact.attributes)
    contact.updated_at = now


def apply_conversation_event(session: Session, event_type: str, payload: dict[str, Any], *, now: datetime) -> None:
    data = _contact_payload(payload)
    contact = contact_for(session, data.get("phone"), data, now=now)
    if contact is None:
        return
    details: dict[str, Any] = payload["conversation"] if isinstance(payload.get("conversation"), dict) else {}
    provider_id = details.get("id") or details.get("conversationId")
    if event_type == "conversation.opened":
        conversation = open_conversation(session, contact, now=now)
        if provider_id is not None:
            conversation.provider_conversation_id = str(provider_id)[:64]
    elif event_type == "conversation.closed":
        for conversation in session.scalars(select(Conversation).where(
                Conversation.contact_id == contact.id, Conversation.status != ConversationStatus.CLOSED)).all():
            conversation.status = ConversationStatus.CLOSED
            conversation.handled_at = now
            conversation.updated_at = now


def _apply_one(session: Session, event: WebhookEvent, result: Processed, now: datetime) -> None:
    kind = event.event_type
    if kind == "message.received":
        followup = receive_message(session, event.payload, now=now)
        if followup is not None:
            result.followups.append(followup)
    elif kind == "message.sent":
        apply_statuses(session, [event], now=now)
    elif kind.startswith("contact."):
        apply_contact_event(session, kind, event.payload, now=now)
    elif kind.startswith("conversation."):
        apply_conversation_event(session, kind, event.payload, now=now)
    else:
        result.ignored += 1
        return
    result.applied += 1


def process_pending(session: Session, *, limit: int = 500, now: datetime | None = None) -> Processed:
    """Apply up to `limit` stored events, in arrival order. Status events of the batch go together
    in one pass; the others one by one. If the batch fails as a whole, each event is retried alone
    in a savepoint so that one bad event cannot hold the others back."""
    now = now or utcnow()
    events = claim(session, limit)
    result = Processed()
    if not events:
        return result
    ids = [e.id for e in events]
    try:
        with session.begin_nested():
            status_events = [e for e in events if e.event_type == "message.sent"]
            apply_statuses(session, status_events, now=now)
            result.applied += len(status_events)
            for event in events:
                if event.event_type != "message.sent":
                    _apply_one(session, event, result, now)
            session.flush()
    except Exception as err:  # noqa: BLE001 - isolate the culprit below
        log.warning("A batch of %d inbound events failed (%s); applying them one by one", len(events), err)
        session.expire_all()
        result = Processed()
        events = list(session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(ids))
                                      .order_by(WebhookEvent.id)).all())
        for event in events:
            try:
                with session.begin_nested():
                    _apply_one(session, event, result, now)
                    session.flush()
            except Exception as one_err:  # noqa: BLE001
                result.failed += 1
                event.attempts += 1
                event.error = error_text(one_err)
                log.error("Inbound event %s (%s) failed, attempt %d: %s", event.event_id, event.event_type,
                          event.attempts, event.error, extra={"event_id": event.event_id})
                if event.attempts >= MAX_ATTEMPTS:
                    event.processed_at = event.dead_at = now  # set aside, with its error, for an administrator
                    log.error("Inbound event %s (%s) set aside after %d failures", event.event_id, event.event_type,
                              event.attempts, extra={"event_id": event.event_id})
                continue
            event.processed_at = now
            event.attempts += 1
        return result
    session.execute(update(WebhookEvent).where(_one_of(session, WebhookEvent.id, ids, BigInteger()))
                    .values(processed_at=now, attempts=WebhookEvent.attempts + 1)
                    .execution_options(synchronize_session=False))
    return result
