"""The agents' inbox: conversations waiting for a human first, the thread, replies inside the
24-hour window (a template outside it), taking a conversation, handing it to a colleague or back
to the chatbot, marking it handled; what is unread; the person behind it; saved replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from core import audit, db, labels, messaging, outbox, respondio, templates
from core.errors import NotFound, UserError
from core.models import (
    Campaign,
    ConsentStatus,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    Recipient,
    Role,
    SavedReply,
    Segment,
    SegmentMember,
    Template,
    User,
)
from core.text import fold, one_line
from core.timeutil import utcnow

C = ConversationStatus
ANSWERING_ROLES = (Role.AGENT, Role.MANAGER, Role.ADMIN)


def _may_answer(actor: User) -> None:
    """Every action on a conversation is an agent's (the screen checks it too; this holds for any caller)."""
    if actor.role not in ANSWERING_ROLES or not actor.is_active:
        raise UserError("Votre rôle ne permet pas d'agir sur les conversations : seuls les agents, les "
                        "responsables et les administrateurs y répondent.")


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
    unread: int = 0  # the person's messages after the last one an agent had on screen
    assigned_to_id: int | None = None


def _scope_conditions(scope: str, user_id: int | None, search: str) -> list[Any]:
    conditions: list[Any] = []
    if scope == "open":
        conditions.append(Conversation.status != C.CLOSED)
    elif scope == "waiting":
        conditions.append(Conversation.status == C.WAITING_AGENT)
    elif scope == "mine":
        conditions += [Conversation.assigned_to == user_id, Conversation.status != C.CLOSED]
    if search.strip():  # typed `%` and `_` are characters, not wildcards
        digits = "".join(ch for ch in search if ch.isdigit())
        by_phone = [Contact.phone.contains(digits[-8:], autoescape=True)] if len(digits) >= 4 else []
        conditions.append(or_(Contact.search_text.contains(fold(search.strip()), autoescape=True), *by_phone))
    return conditions


def list_conversations(session: Session, *, scope: str = "open", user_id: int | None = None, search: str = "",
                       limit: int = 50) -> list[ConversationRow]:
    """`scope`: open (everything not handled), waiting, mine, all. Waiting for a human first, the one
    waiting longest at the top; then the user's own, then those other agents have, then the bot's,
    the most recent first within each."""
    urgency = case((Conversation.status == C.WAITING_AGENT, 0),
                   (and_(Conversation.status == C.AGENT, Conversation.assigned_to == user_id), 1),
                   (Conversation.status == C.AGENT, 2), (Conversation.status == C.BOT, 3), else_=4)
    waiting_since = case((Conversation.status == C.WAITING_AGENT,
                          func.coalesce(Conversation.handed_over_at, Conversation.last_message_at)))
    last_text = (select(Message.text).where(Message.conversation_id == Conversation.id)
                 .order_by(Message.created_at.desc(), Message.id.desc()).limit(1).scalar_subquery())
    unread = _unread()
    rows = session.execute(
        select(Conversation, Contact, User.name, last_text.label("preview"), unread.label("unread"))
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(User, User.id == Conversation.assigned_to)
        .where(*_scope_conditions(scope, user_id, search))
        .order_by(urgency, waiting_since.asc().nulls_last(), Conversation.last_message_at.desc().nulls_last(),
                  Conversation.id.desc())
        .limit(limit)).all()
    now = utcnow()
    return [ConversationRow(conv.id, contact.id, _name(contact), contact.phone, conv.status, conv.handoff_reason,
                            agent, conv.last_message_at, " ".join((preview or "").split())[:120],
                            messaging.window_open(contact, now=now), int(unseen or 0), conv.assigned_to)
            for conv, contact, agent, preview, unseen in rows]


def count_conversations(session: Session, *, scope: str = "open", user_id: int | None = None,
                        search: str = "") -> int:
    """How many conversations the list holds in all (it shows the first `limit`)."""
    return session.scalar(select(func.count()).select_from(Conversation)
                          .join(Contact, Contact.id == Conversation.contact_id)
                          .where(*_scope_conditions(scope, user_id, search))) or 0


def user_name(session: Session, user_id: int) -> str:
    found = session.get(User, user_id)
    return found.name if found is not None else "Compte supprimé"


def screen_state(session: Session, conversation: Conversation) -> tuple[str, int | None, bool, bool]:
    """What the inbox's header, buttons and reply box depend on (status, holder, window open, opted
    out): read every few seconds per open screen, so one row each, no segments nor campaigns."""
    contact = session.get(Contact, conversation.contact_id)
    return (conversation.status, conversation.assigned_to, contact is not None and messaging.window_open(contact),
            contact is not None and contact.consent_status == ConsentStatus.OPTED_OUT)


def holder_name(session: Session, conversation: Conversation) -> str | None:
    """The name of whoever holds the conversation, if anyone."""
    return user_name(session, conversation.assigned_to) if conversation.assigned_to else None


def _unread() -> Any:
    """Per conversation: the person's messages after the last one an agent had on screen."""
    return (select(func.count()).where(Message.conversation_id == Conversation.id,
                                       Message.direction == Direction.INBOUND,
                                       Message.id > func.coalesce(Conversation.seen_message_id, 0))
            .scalar_subquery())


def person_name(session: Session, conversation: Conversation) -> str:
    """Who the conversation is with, as confirmations name them."""
    contact = session.get(Contact, conversation.contact_id)
    return _name(contact) if contact is not None else "cette personne"


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
    """The agent takes the conversation, unless a colleague holds it already (two agents clicking at
    the same moment: one wins, the other is told who has it; a colleague can still hand it over)."""
    _may_answer(actor)
    if conversation.status == C.CLOSED:
        raise UserError("Cette conversation est déjà traitée.")
    if conversation.assigned_to == actor.id and conversation.status == C.AGENT:
        return
    now = utcnow()
    free = or_(Conversation.assigned_to.is_(None), Conversation.assigned_to == actor.id,
               Conversation.status != C.AGENT)
    taken = db.changed(session, update(Conversation)
                       .where(Conversation.id == conversation.id, Conversation.status != C.CLOSED, free)
                       .values(assigned_to=actor.id, status=C.AGENT, updated_at=now)
                       .execution_options(synchronize_session=False))
    session.refresh(conversation)
    if not taken:
        holder = holder_name(session, conversation)
        if conversation.status == C.CLOSED:
            raise UserError("Cette conversation vient d'être traitée.")
        raise UserError(f"{holder or 'Un collègue'} suit déjà cette conversation : demandez-lui de vous la confier.")
    audit.record(session, "conversation_assigned", actor=actor, target_type="conversation",
                 target_id=conversation.id)


# The same text sent twice by a double click, or from two tabs, within this time is sent once.
REPEAT_SECONDS = 30


def _may_write(session: Session, conversation: Conversation, actor: User) -> None:
    """A message goes out on a conversation that is open and not a colleague's: a handled one is
    reopened on purpose first (the person's next message starts a new one), a colleague's is handed over."""
    if conversation.status == C.CLOSED:
        raise UserError("Cette conversation est marquée comme traitée : votre message n'est pas parti (votre texte "
                        "reste dans la zone de saisie). Cliquez sur « Rouvrir la conversation » pour écrire à "
                        "nouveau à cette personne.")
    if conversation.status == C.AGENT and conversation.assigned_to not in (None, actor.id):
        raise UserError(f"{holder_name(session, conversation) or 'Un collègue'} suit cette conversation : votre "
                        "message n'est pas parti (votre texte reste dans la zone de saisie). Demandez-lui de vous "
                        "la confier.")


def _repeated(session: Session, conversation: Conversation, actor: User, text: str) -> bool:
    last = session.scalar(select(Message).where(Message.conversation_id == conversation.id,
                                                Message.agent_id == actor.id, Message.direction == Direction.OUTBOUND)
                          .order_by(Message.id.desc()).limit(1))
    return last is not None and (last.text or "").strip() == text.strip() and last.created_at is not None \
        and (utcnow() - last.created_at).total_seconds() < REPEAT_SECONDS


def reply(session: Session, conversation: Conversation, text: str, actor: User) -> Message:
    """An agent's text; only while the person's 24-hour window is open, on a conversation that is
    open and not a colleague's; the same text twice in a row within 30 s is sent once."""
    _may_answer(actor)
    db.lock_for_write(session, conversation)
    _may_write(session, conversation, actor)
    if _repeated(session, conversation, actor, text):
        raise UserError("Cette réponse vient déjà de partir : elle n'est pas envoyée une seconde fois.")
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    message = messaging.send_text(session, contact, text, author="agent", actor=actor,
                                  conversation_id=conversation.id)
    if conversation.status in (C.BOT, C.WAITING_AGENT) or conversation.assigned_to is None:
        conversation.status = C.AGENT
        conversation.assigned_to = actor.id
    conversation.last_message_at = message.created_at
    return message


def reopen(session: Session, conversation: Conversation, actor: User) -> Conversation:
    """A handled conversation opened again by an agent, to write to the person. If the person has a
    newer open conversation (they wrote since), that one is returned instead: one person, one thread."""
    _may_answer(actor)
    db.lock_for_write(session, conversation)  # two agents reopening at once: one audit line
    newer = session.scalar(select(Conversation).where(Conversation.contact_id == conversation.contact_id,
                                                      Conversation.status != C.CLOSED,
                                                      Conversation.id != conversation.id)
                           .order_by(Conversation.id.desc()).limit(1))
    if newer is not None:
        return newer
    if conversation.status == C.CLOSED:
        conversation.status, conversation.assigned_to = C.AGENT, actor.id
        conversation.handled_at, conversation.updated_at = None, utcnow()
        audit.record(session, "conversation_reopened", actor=actor, target_type="conversation",
                     target_id=conversation.id)
    return conversation


def send_template(session: Session, conversation: Conversation, template_id: int, actor: User) -> Message:
    """Outside the window, only an approved template reaches the person (the same one twice within
    30 s, a double click, is sent once)."""
    _may_answer(actor)
    db.lock_for_write(session, conversation)
    _may_write(session, conversation, actor)
    contact = session.get(Contact, conversation.contact_id)
    template = session.get(Template, template_id)
    assert contact is not None
    if template is None:
        raise NotFound("Ce modèle n'existe plus.")
    if contact.consent_status == "opted_out":
        raise UserError("Cette personne s'est désinscrite : aucun message ne peut lui être envoyé.")
    components, body = templates.prepare(template, contact)
    if _repeated(session, conversation, actor, body):
        raise UserError("Ce modèle vient déjà de partir : il n'est pas envoyé une seconde fois.")
    item = outbox.add_template(session, phone=contact.phone, name=template.name, language=template.language,
                               components=components, body=body, purpose="agent_template", contact=contact,
                               template_id=template.id, conversation_id=conversation.id, actor=actor)
    message = session.get(Message, item.message_id)
    assert message is not None
    conversation.status = C.AGENT
    conversation.assigned_to = actor.id
    conversation.last_message_at = utcnow()
    audit.record(session, "template_sent", actor=actor, target_type="contact", target_id=contact.id,
                 details={"template": template.name, "outbox_id": item.id})
    return message


def _holder_or_manager(session: Session, conversation: Conversation, actor: User, what: str) -> None:
    """A conversation a colleague holds is theirs: only they, or a manager or an administrator, may
    close it, give it back to the chatbot or hand it on (an agent asks them to hand it over)."""
    db.lock_for_write(session, conversation)
    if conversation.status == C.AGENT and conversation.assigned_to not in (None, actor.id) and \
            actor.role not in (Role.MANAGER, Role.ADMIN):
        raise UserError(f"{holder_name(session, conversation) or 'Un collègue'} suit cette conversation : "
                        f"seul lui, ou un responsable, peut la {what}.")


def mark_handled(session: Session, conversation: Conversation, actor: User) -> None:
    _may_answer(actor)
    _holder_or_manager(session, conversation, actor, "marquer comme traitée")
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


def mark_seen(session: Session, conversation: Conversation) -> None:
    """An agent has the thread on screen: what it holds is read."""
    last = session.scalar(select(func.max(Message.id)).where(Message.conversation_id == conversation.id))
    if last is not None and (conversation.seen_message_id or 0) < last:
        conversation.seen_message_id = last


# --- assignment --------------------------------------------------------------------------------


def colleagues(session: Session) -> dict[int, str]:
    """Active users who may answer conversations, by name."""
    return dict(session.execute(select(User.id, User.name).where(User.is_active.is_(True),
                                                                 User.role.in_(ANSWERING_ROLES))
                                .order_by(User.name)).all())


def hand_to(session: Session, conversation: Conversation, colleague_id: int, actor: User) -> User:
    """The conversation given to a colleague (who then has it in « Mes conversations »); audited."""
    _may_answer(actor)
    _holder_or_manager(session, conversation, actor, "confier à quelqu'un d'autre")
    if conversation.status == C.CLOSED:
        raise UserError("Cette conversation est déjà traitée.")
    colleague = session.get(User, colleague_id)
    if colleague is None or not colleague.is_active or colleague.role not in ANSWERING_ROLES:
        raise UserError("Ce collègue ne peut pas recevoir de conversation (compte désactivé ou rôle sans accès).")
    previous = conversation.assigned_to
    conversation.assigned_to = colleague.id
    conversation.status = C.AGENT
    conversation.updated_at = utcnow()
    audit.record(session, "conversation_handed", actor=actor, target_type="conversation", target_id=conversation.id,
                 details={"to": colleague.email, "from_user_id": previous})
    return colleague


def give_back_to_bot(session: Session, conversation: Conversation, actor: User) -> None:
    """The chatbot answers this person again; nobody holds the conversation any more; audited."""
    _may_answer(actor)
    _holder_or_manager(session, conversation, actor, "rendre à l'assistant")
    if conversation.status == C.CLOSED:
        raise UserError("Cette conversation est déjà traitée.")
    conversation.status = C.BOT
    conversation.assigned_to = None
    conversation.handoff_reason = None
    conversation.updated_at = utcnow()
    audit.record(session, "conversation_returned_to_bot", actor=actor, target_type="conversation",
                 target_id=conversation.id)


@dataclass(frozen=True)
class Load:
    agent: str
    open: int  # conversations the agent holds, not yet handled
    unread: int  # the people's messages in them that no agent has had on screen


def loads(session: Session) -> list[Load]:
    """Each agent's conversations in hand, the busiest first (for supervisors); an agent with none
    is listed too (with 0), and so is a disabled account still holding conversations."""
    unread = _unread()
    rows = session.execute(
        select(User.name, func.count(Conversation.id), func.coalesce(func.sum(unread), 0))
        .outerjoin(Conversation, and_(Conversation.assigned_to == User.id, Conversation.status == C.AGENT))
        .where(or_(and_(User.is_active.is_(True), User.role.in_(ANSWERING_ROLES)), Conversation.id.is_not(None)))
        .group_by(User.id, User.name).order_by(func.count(Conversation.id).desc(), User.name)).all()
    return [Load(name, int(n), int(u)) for name, n, u in rows]


# --- the person --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    consent: str
    segments: list[str]
    campaigns: list[tuple[str, str, datetime | None]]  # name, the person's status in it (French), when sent
    window_open: bool
    window_expires_at: datetime | None
    opted_out: bool


def person(session: Session, contact_id: int, *, campaigns_limit: int = 10) -> Person:
    """Who the agent is talking to: phone, consent, segments, the last campaigns they received."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("Ce contact n'existe plus.")
    segment_names = list(session.scalars(select(Segment.name).join(SegmentMember,
                                                                   SegmentMember.segment_id == Segment.id)
                                         .where(SegmentMember.contact_id == contact_id).order_by(Segment.name)))
    received = session.execute(
        select(Campaign.name, Recipient.status, Recipient.sent_at)
        .join(Campaign, Campaign.id == Recipient.campaign_id)
        .where(Recipient.contact_id == contact_id)
        .order_by(Recipient.sent_at.desc().nulls_last(), Recipient.id.desc()).limit(campaigns_limit)).all()
    return Person(_name(contact), contact.phone, labels.CONSENT.get(contact.consent_status, contact.consent_status),
                  segment_names, [(name, labels.RECIPIENT_STATUS.get(status, status), sent)
                                  for name, status, sent in received],
                  messaging.window_open(contact), contact.window_expires_at,
                  contact.consent_status == ConsentStatus.OPTED_OUT)


# --- saved replies -----------------------------------------------------------------------------

def saved_replies(session: Session) -> list[SavedReply]:
    return list(session.scalars(select(SavedReply).order_by(SavedReply.title)).all())


def saved_reply(session: Session, reply_id: int) -> SavedReply:
    """One saved reply, as it is now (a manager may have changed or deleted it since the screen listed it)."""
    found = session.get(SavedReply, reply_id)
    if found is None:
        raise NotFound("Cette réponse enregistrée vient d'être supprimée : choisissez-en une autre.")
    return found


def save_reply(session: Session, title: str, body: str, actor: User, *, reply_id: int | None = None) -> SavedReply:
    """Written by managers and administrators, for every agent."""
    if actor.role not in (Role.MANAGER, Role.ADMIN) or not actor.is_active:
        raise UserError("Seuls les responsables et les administrateurs gèrent les réponses enregistrées.")
    title, body = one_line(title), (body or "").strip()
    if not title or not body:
        raise UserError("Une réponse enregistrée a un titre et un texte.")
    if len(title) > 80:
        raise UserError("Le titre fait plus de 80 caractères.")
    if len(body) > 4096:
        raise UserError("Le texte fait plus de 4096 caractères : WhatsApp n'en accepte pas davantage.")
    clash = next((other for other_id, other in session.execute(select(SavedReply.id, SavedReply.title))
                  if other_id != reply_id and fold(other).casefold() == fold(title).casefold()), None)
    if clash is not None:  # « Horaires » and « horaires » are the same reply to an agent choosing one
        raise UserError(f"Une réponse « {clash} » existe déjà.")
    if reply_id is None:
        reply_row = SavedReply(title=title, body=body, created_by=actor.id)
        session.add(reply_row)
    else:
        found = session.get(SavedReply, reply_id)
        if found is None:
            raise NotFound("Cette réponse enregistrée n'existe plus.")
        reply_row = found
        reply_row.title, reply_row.body = title, body
    session.flush()
    audit.record(session, "saved_reply_saved", actor=actor, target_type="saved_reply", target_id=reply_row.id,
                 details={"title": title})
    return reply_row


def delete_reply(session: Session, reply_id: int, actor: User) -> None:
    if actor.role not in (Role.MANAGER, Role.ADMIN) or not actor.is_active:
        raise UserError("Seuls les responsables et les administrateurs gèrent les réponses enregistrées.")
    found = session.get(SavedReply, reply_id)
    if found is None:
        raise NotFound("Cette réponse enregistrée n'existe plus.")
    audit.record(session, "saved_reply_deleted", actor=actor, target_type="saved_reply", target_id=reply_id,
                 details={"title": found.title})
    session.delete(found)
    session.flush()
