"""Inbound Respond.io events: verified, stored once, then applied.

The receiver (`workers/webhooks.py`) checks the signature and writes the raw event before it
answers 200, so nothing acknowledged can be lost; a worker applies stored events in order. An
`event_id` seen twice is stored once, hence applied once. Unknown event types are kept and
ignored. What needs the chatbot is handed back to the worker as a `Followup` (core never imports
the chatbot)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import BigInteger, String, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import audit, db, messaging, statuses
from core.config import get_settings
from core.contacts.search import search_text_for
from core.errors import UserError
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
    User,
    UTCDateTime,
    WebhookEvent,
)
from core.phones import normalize
from core.respondio import whatsapp_code_of
from core.text import fold
from core.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # an event that fails this often is set aside (kept, with its error) instead of blocking

# Words a person sends to stop or resume messages, and to ask for a human (folded: no accents,
# lower case). A message opts out when it is one of these, alone or with a few polite words.
OPT_OUT_WORDS = frozenset({"stop", "arret", "arrete", "arreter", "arretez", "desabonner", "desabonne",
                           "desabonnement", "desinscrire", "desinscris", "desinscrivez", "desinscription",
                           "unsubscribe", "stopper"})
OPT_IN_WORDS = frozenset({"start", "oui", "reprendre", "reabonner", "inscrire", "reinscrire"})
HANDOFF_WORDS = frozenset({"agent", "conseiller", "conseillere", "humain", "humaine", "operateur", "operatrice",
                           "personne reelle", "quelqu un", "une personne"})
FILLER_WORDS = frozenset({"svp", "stp", "merci", "s", "il", "vous", "plait", "te", "moi", "je", "veux", "me", "de",
                          "les", "messages", "message", "sms", "please", "tout", "a", "au", "aux", "la", "le", "m",
                          "des", "ces", "envoyer", "cnss"})
OPT_OUT_CONFIRMATION = ("Vous êtes désinscrit(e) : la CNSS ne vous enverra plus de messages WhatsApp. "
                        "Répondez START pour vous réinscrire.")
OPT_IN_CONFIRMATION = ("C'est noté : vous recevrez de nouveau les messages de la CNSS. "
                       "Répondez STOP pour vous désinscrire.")
HANDOFF_NOTICE = "Un conseiller de la CNSS va vous répondre dès que possible."
BOT_NO_ANSWER_NOTICE = "Je transmets votre question à un conseiller de la CNSS, qui vous répondra dès que possible."
_WORD = re.compile(r"[a-z0-9]+")


# --- the edge: signature and shape -----------------------------------------------------------

def sign(body: bytes, secret: str) -> str:
    """Respond.io's signature: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, signature: str | None, secrets: list[str]) -> bool:
    """True when `signature` matches the body under one of the signing keys. Every key is tried, and
    compared in constant time, so the answer's timing tells nothing about the keys."""
    if not signature or not secrets:
        return False
    given = signature.strip().encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(body, secret).encode(), given)
    return matched


class InvalidEvent(ValueError):
    """A signed body that is not an event; the reason is for the log and the 400 answer."""


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    payload: dict[str, Any]
    raw: bytes | None = None  # the verified body, stored as it came when the database takes JSON text


def parse(body: bytes) -> Event:
    try:
        payload = orjson.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidEvent(f"body is not JSON: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("body is not a JSON object")
    if _depth_over(payload, MAX_DEPTH):  # Respond.io's events are a few levels deep
        raise InvalidEvent(f"body nested deeper than {MAX_DEPTH} levels")
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise InvalidEvent("event_type is missing")
    event_id = payload.get("event_id")
    # Without an id, the body itself identifies the event: the same delivery twice is one event.
    event_id = without_nul(str(event_id)) if event_id not in (None, "") else \
        "sha256:" + hashlib.sha256(body).hexdigest()
    if len(event_id) > EVENT_ID_MAX:  # cut, two different ids could become one: hashed instead
        event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
    if b"\\u0000" in body:
        # PostgreSQL's JSON and text cannot hold a NUL character: removed from the decoded values, and
        # the body stored re-encoded (an escape typed by hand, `\\u0000` in the JSON, stays as typed).
        payload = without_nul(payload)
        body = orjson.dumps(payload)
    return Event(event_id, without_nul(event_type.strip())[:64], payload, body)


EVENT_ID_MAX = 128
MAX_DEPTH = 64  # objects and lists within each other; deeper bodies are refused (400), never half-read
NAME_MAX = 120  # contacts.first_name / last_name
TYPE_MAX = 32  # messages.message_type


def _depth_over(value: Any, limit: int) -> bool:
    """Whether objects and lists are nested deeper than `limit` (without recursion: a hostile body
    must not exhaust the stack of the process that reads it)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def without_nul(value: Any) -> Any:
    """`value` with every NUL character removed from its strings, keys included, at any depth."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def fit(value: str | None, length: int) -> str | None:
    """A value from outside cut to its column's length (a longer one would fail the event forever)."""
    return value[:length] if value is not None else None


def store(session: Session, events: list[Event], *, now: datetime | None = None) -> int:
    """Write events not seen before; returns how many were new. Duplicates are ignored."""
    if not events:
        return 0
    now = now or utcnow()
    unique = {e.event_id: e for e in events}
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the batch, the bodies cast from their text (no re-encoding); `parse` has
        # already removed NUL characters, which PostgreSQL's JSON cannot hold.
        texts = [(e.raw if e.raw is not None else orjson.dumps(without_nul(e.payload))).decode()
                 for e in unique.values()]
        return db.changed(session, text(
            "INSERT INTO webhook_events (event_id, event_type, payload, received_at, attempts) "
            "SELECT e, t, p::jsonb, :now, 0 FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[]), "
            "CAST(:payloads AS text[])) AS x(e, t, p) ON CONFLICT (event_id) DO NOTHING"
        ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"now": now, "ids": list(unique), "types": [e.event_type for e in unique.values()], "payloads": texts})
    rows = [{"event_id": e.event_id, "event_type": e.event_type, "payload": e.payload, "received_at": now,
             "attempts": 0} for e in unique.values()]
    stmt = sqlite_insert(WebhookEvent).on_conflict_do_nothing(index_elements=["event_id"])
    result = session.execute(stmt.returning(WebhookEvent.id), rows)
    return len(result.all())


def pending_count(session: Session) -> int:
    return session.scalar(text("SELECT count(*) FROM webhook_events WHERE processed_at IS NULL")) or 0


# --- applying events -------------------------------------------------------------------------

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


def words(message_text: str) -> list[str]:
    return _WORD.findall(fold(message_text))


def keyword(message_text: str) -> str | None:
    """`opt_out`, `opt_in` or `handoff` when the message says so, else None. The opt words count
    only when the message is essentially that word ("STOP", "Arrêt svp", "désinscrire moi"),
    so that "je ne veux pas que ça s'arrête" is not an opt-out."""
    tokens = words(message_text)
    if not tokens:
        return None
    meaningful = [t for t in tokens if t not in FILLER_WORDS]
    if len(meaningful) == 1 and len(tokens) <= 6:
        if meaningful[0] in OPT_OUT_WORDS:
            return "opt_out"
        if meaningful[0] in OPT_IN_WORDS:
            return "opt_in"
    joined = " ".join(tokens)
    if len(tokens) <= 12 and (any(t in HANDOFF_WORDS for t in tokens)
                              or any(phrase in joined for phrase in HANDOFF_WORDS if " " in phrase)):
        return "handoff"
    return None


YES_WORDS = frozenset({"oui"})  # a re-subscription only in answer to a message that asked for it
# Our own offer to re-subscribe: "répondez OUI pour recevoir de nouveau…" (folded). An agent's other
# yes/no questions, or "ne répondez pas oui", are not one.
ASKS_FOR_YES = re.compile(r"\b(repondez|tapez|envoyez)\s+oui\b")
RESUBSCRIBE_WORDS = ("reinscri", "reabonn", "de nouveau nos messages", "de nouveau les messages")


def _explicit_opt_in(message_text: str) -> bool:
    """START, RÉABONNER... (not a mere "oui")."""
    return any(t in OPT_IN_WORDS - YES_WORDS for t in words(message_text))


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
    if said == "opt_in" and not _explicit_opt_in(body) and not _asked_for_yes(session, contact, message.id):
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


def claim(session: Session, limit: int) -> list[WebhookEvent]:
    """The oldest events not yet applied, locked for this worker (others skip them)."""
    stmt = (select(WebhookEvent).where(WebhookEvent.processed_at.is_(None), WebhookEvent.attempts < MAX_ATTEMPTS)
            .order_by(WebhookEvent.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt).all())


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


# --- dead letters: events that could not be stored or applied ------------------------------------

def store_unstorable(session: Session, event: Event, error: Exception, *, now: datetime | None = None) -> int:
    """An event the database refused as it came (after the batch it came in was tried alone): kept as
    text, set aside for an administrator, so that the events behind it move on."""
    now = now or utcnow()
    raw = (event.raw or orjson.dumps(without_nul(event.payload))).decode("utf-8", "replace").replace("\x00", "")
    row = {"event_id": without_nul(event.event_id), "event_type": without_nul(event.event_type),
           "payload": {"_unstorable_body": raw[:1_000_000]}, "received_at": now, "processed_at": now,
           "dead_at": now, "attempts": 1, "error": error_text(error)}
    stored = session.execute(db.insert_for(session)(WebhookEvent).values(**row)
                             .on_conflict_do_nothing(index_elements=["event_id"]).returning(WebhookEvent.id)).all()
    log.error("Inbound event %s (%s) could not be stored as it came: set aside (%s)", event.event_id,
              event.event_type, row["error"], extra={"event_id": event.event_id})
    return len(stored)


def error_text(error: Exception) -> str:
    """What went wrong, for the log and an administrator: the database's own first line rather than
    SQLAlchemy's message (which repeats the statement and its parameters), phones masked."""
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0]
    return mask_phone(f"{type(cause).__name__}: {first}")[:1000]


def _dead() -> Any:
    return (WebhookEvent.dead_at.is_not(None)) & (WebhookEvent.discarded_at.is_(None))


def dead_letter_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(WebhookEvent).where(_dead())) or 0


def dead_letters(session: Session, *, limit: int = 200) -> list[WebhookEvent]:
    """The events set aside, newest first."""
    return list(session.scalars(select(WebhookEvent).where(_dead()).order_by(WebhookEvent.dead_at.desc(),
                                                                              WebhookEvent.id.desc())
                                .limit(limit)).all())


def masked_payload(event: WebhookEvent, *, limit: int = 20_000) -> str:
    """The event's body for an administrator's eyes: phone numbers masked, cut to `limit` characters."""
    body = orjson.dumps(event.payload, option=orjson.OPT_INDENT_2).decode()
    body = mask_phone(body)
    return body if len(body) <= limit else body[:limit] + "\n… (tronqué)"


def _dead_letter(session: Session, event_row_id: int) -> WebhookEvent:
    event = session.get(WebhookEvent, event_row_id)
    if event is None or event.dead_at is None or event.discarded_at is not None:
        raise UserError("Cet événement n'est plus en attente d'une décision (déjà réessayé ou écarté).")
    return event


def retry_dead_letter(session: Session, event_row_id: int, *, actor: User | None = None) -> WebhookEvent:
    """Apply the event again from the start (after a fix, say)."""
    event = _dead_letter(session, event_row_id)
    if "_unstorable_body" in (event.payload or {}):
        raise UserError("Cet événement n'a pas pu être enregistré tel quel : il ne peut pas être réessayé, "
                        "seulement écarté.")
    audit.record(session, "inbound_event_retried", actor=actor, target_type="webhook_event", target_id=event.id,
                 details={"event_id": event.event_id, "event_type": event.event_type, "error": event.error})
    event.dead_at = event.processed_at = None
    event.attempts = 0
    event.error = None
    return event


def discard_dead_letter(session: Session, event_row_id: int, *, actor: User | None = None) -> WebhookEvent:
    """Let the event go for good; it stays stored (a redelivery is still recognised) and audited."""
    event = _dead_letter(session, event_row_id)
    event.discarded_at = utcnow()
    audit.record(session, "inbound_event_discarded", actor=actor, target_type="webhook_event", target_id=event.id,
                 details={"event_id": event.event_id, "event_type": event.event_type, "error": event.error})
    return event


# --- questions the chatbot never answered ----------------------------------------------------------

def unanswered(session: Session, *, older_than: timedelta, now: datetime | None = None,
               limit: int = 100) -> list[Conversation]:
    """Conversations whose question reached the chatbot `older_than` ago or more and got neither an
    answer nor a hand-over (the worker died in between), locked for this caller on PostgreSQL."""
    now = now or utcnow()
    stmt = (select(Conversation).where(Conversation.bot_pending_since <= now - older_than)
            .order_by(Conversation.bot_pending_since).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt).all())


def later_question(session: Session, conversation_id: int, message_id: int) -> bool:
    """Whether the person wrote again after this message (its answer then does not clear the mark)."""
    return session.scalar(select(Message.id).where(
        Message.conversation_id == conversation_id, Message.direction == Direction.INBOUND,
        Message.id > message_id).limit(1)) is not None


def hand_over_unanswered(session: Session, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Every question left without an answer goes to the agents, and the person is told so, once: the
    mark is cleared in the same transaction."""
    now = now or utcnow()
    handed = 0
    for conversation in unanswered(session, older_than=older_than, now=now):
        conversation.bot_pending_since = None
        if conversation.status != ConversationStatus.BOT:
            continue  # an agent took it meanwhile
        contact = session.get(Contact, conversation.contact_id)
        hand_over(conversation, "bot_no_answer", now=now)
        if contact is not None:
            notify(session, contact, conversation, BOT_NO_ANSWER_NOTICE, "handover_notice")
        handed += 1
        log.warning("Conversation %s: the chatbot never answered; handed to the agents", conversation.id)
    return handed
