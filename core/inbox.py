"""The agents' inbox: conversations waiting for a human first, the thread, replies inside the
24-hour window (a template outside it), taking a conversation and marking it handled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from core import audit, labels, messaging, outbox, respondio, templates
from core.errors import NotFound, UserError
from core.models import Contact, Conversation, ConversationStatus, Message, Template, User
from core.text import fold
from core.timeutil import utcnow

C = ConversationStatus


@dataclass(frozen=True)
class ConversationRow:
    id: int
    contact_id: int
    contact_name: str
    phone: str
    status: str
    handoff_reason: str | None
    assigned_to: str | None
    last_message_at: datetime | None
    preview: str
    window_open: bool


def list_conversations(session: Session, *, scope: str = "open", user_id: int | None = None, search: str = "",
                       limit: int = 50) -> list[ConversationRow]:
    """`scope`: open (everything not handled), waiting, mine, all. Waiting for a human first, then
    those an agent has, then the bot's; the most recent first within each."""
    conditions = []
    if scope == "open":
        conditions.append(Conversation.status != C.CLOSED)
    elif scope == "waiting":
        conditions.append(Conversation.status == C.WAITING_AGENT)
    elif scope == "mine":
        conditions += [Conversation.assigned_to == user_id, Conversation.status != C.CLOSED]
    if search.strip():
        needle = f"%{fold(search.strip())}%"
        digits = "".join(ch for ch in search if ch.isdigit())
        by_phone = [Contact.phone.like(f"%{digits[-8:]}%")] if len(digits) >= 4 else []
        conditions.append(or_(Contact.search_text.like(needle), *by_phone))
    urgency = case((Conversation.status == C.WAITING_AGENT, 0), (Conversation.status == C.AGENT, 1),
                   (Conversation.status == C.BOT, 2), else_=3)
    last_text = (select(Message.text).where(Message.conversation_id == Conversation.id)
                 .order_by(Message.created_at.desc(), Message.id.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(Conversation, Contact, User.name, last_text.label("preview"))
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(User, User.id == Conversation.assigned_to)
        .where(*conditions)
        .order_by(urgency, Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
        .limit(limit)).all()
    now = utcnow()
    return [ConversationRow(conv.id, contact.id, _name(contact), contact.phone, conv.status, conv.handoff_reason,
                            agent, conv.last_message_at, (preview or "")[:120],
                            messaging.window_open(contact, now=now))
            for conv, contact, agent, preview in rows]


def _name(contact: Contact) -> str:
    return " ".join(p for p in (contact.first_name, contact.last_name) if p) or contact.phone


def counts(session: Session, user_id: int | None = None) -> dict[str, int]:
    waiting = session.scalar(select(func.count()).select_from(Conversation)
                             .where(Conversation.status == C.WAITING_AGENT)) or 0
    mine = 0
    if user_id is not None:
        mine = session.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.assigned_to == user_id, Conversation.status != C.CLOSED)) or 0
    return {"waiting": waiting, "mine": mine}


def get(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("Cette conversation n'existe plus.")
    return conversation


def thread(session: Session, conversation: Conversation) -> list[Message]:
    """The person's messages, the bot's answers (with sources), agents' and system messages."""
    return list(session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                .order_by(Message.created_at, Message.id)).all())


def assign_to_me(session: Session, conversation: Conversation, actor: User) -> None:
    if conversation.status == C.CLOSED:
        raise UserError("Cette conversation est déjà traitée.")
    if conversation.assigned_to == actor.id and conversation.status == C.AGENT:
        return
    conversation.assigned_to = actor.id
    conversation.status = C.AGENT
    conversation.updated_at = utcnow()
    audit.record(session, "conversation_assigned", actor=actor, target_type="conversation",
                 target_id=conversation.id)


def reply(session: Session, conversation: Conversation, text: str, actor: User) -> Message:
    """An agent's text; only while the person's 24-hour window is open."""
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    message = messaging.send_text(session, contact, text, author="agent", actor=actor,
                                  conversation_id=conversation.id)
    if conversation.status in (C.BOT, C.WAITING_AGENT, C.CLOSED) or conversation.assigned_to is None:
        conversation.status = C.AGENT
        conversation.assigned_to = conversation.assigned_to or actor.id
    conversation.last_message_at = message.created_at
    return message


def send_template(session: Session, conversation: Conversation, template_id: int, actor: User) -> Message:
    """Outside the window, only an approved template reaches the person."""
    contact = session.get(Contact, conversation.contact_id)
    template = session.get(Template, template_id)
    assert contact is not None
    if template is None:
        raise NotFound("Ce modèle n'existe plus.")
    if contact.consent_status == "opted_out":
        raise UserError("Cette personne s'est désinscrite : aucun message ne peut lui être envoyé.")
    components, body = templates.prepare(template, contact)
    item = outbox.add_template(session, phone=contact.phone, name=template.name, language=template.language,
                               components=components, body=body, purpose="agent_template", contact=contact,
                               template_id=template.id, conversation_id=conversation.id, actor=actor)
    message = session.get(Message, item.message_id)
    assert message is not None
    conversation.status = C.AGENT
    conversation.assigned_to = conversation.assigned_to or actor.id
    conversation.last_message_at = utcnow()
    audit.record(session, "template_sent", actor=actor, target_type="contact", target_id=contact.id,
                 details={"template": template.name, "outbox_id": item.id})
    return message


def mark_handled(session: Session, conversation: Conversation, actor: User) -> None:
    if conversation.status == C.CLOSED:
        return
    conversation.status = C.CLOSED
    conversation.handled_at = utcnow()
    conversation.assigned_to = conversation.assigned_to or actor.id
    audit.record(session, "conversation_handled", actor=actor, target_type="conversation",
                 target_id=conversation.id)


def message_state(message: Message) -> str:
    """An outgoing message's state as the agent reads it (a failure with its reason)."""
    label = labels.MESSAGE_STATUS.get(message.status or "", message.status or "")
    if message.status == "failed" and message.error_code:
        label += f" ({labels.WHATSAPP_ERROR.get(message.error_code) or respondio.code_label(message.error_code)})"
    return label
