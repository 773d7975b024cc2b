"""Questions the chatbot never answered (its worker gone mid-question): handed to an agent, so that
no question waits forever without a person being told."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.inbound.apply import hand_over, notify
from core.inbound.grammar import BOT_NO_ANSWER_NOTICE
from core.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
)
from core.timeutil import utcnow

log = logging.getLogger(__name__)


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
