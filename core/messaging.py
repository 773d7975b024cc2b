"""Free-text messages to one person: only inside the 24-hour customer service window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core import audit, outbox
from core.errors import UserError
from core.models import Contact, ConsentStatus, Message, User
from core.timeutil import format_dt, utcnow


def window_open(contact: Contact, *, now: datetime | None = None) -> bool:
    return contact.window_expires_at is not None and contact.window_expires_at > (now or utcnow())


def send_text(session: Session, contact: Contact, text: str, *, author: str = "agent", actor: User | None = None,
              conversation_id: int | None = None, purpose: str | None = None) -> Message:
    """Record a text to send (its line in the conversation is `pending`): the outbox sends it after
    the commit of this transaction, never from inside it. Outside the window WhatsApp refuses free
    text (131047): a template is needed, so nothing is recorded and the user is told why."""
    text = text.strip()
    if not text:
        raise UserError("Le message est vide.")
    if len(text) > 4096:
        raise UserError("Un message WhatsApp ne dépasse pas 4096 caractères.")
    if contact.erased_at is not None:
        raise UserError("Ce contact a été effacé.")
    if contact.consent_status == ConsentStatus.OPTED_OUT and author != "system":
        raise UserError("Cette personne s'est désinscrite : aucun message ne peut lui être envoyé.")
    if not window_open(contact):
        closed = f" (fermée depuis le {format_dt(contact.window_expires_at)})" if contact.window_expires_at else ""
        raise UserError(f"La fenêtre de 24 heures est fermée{closed} : seul un modèle approuvé peut être envoyé.")
    purpose = purpose or ("agent_reply" if author == "agent" else author)
    message = outbox.add_text(session, contact, text, purpose=purpose, author=author, conversation_id=conversation_id,
                              actor=actor)
    if actor is not None:
        audit.record(session, "message_sent", actor=actor, target_type="contact", target_id=contact.id,
                     details={"message_id": message.id})
    return message
