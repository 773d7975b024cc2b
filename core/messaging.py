"""Free-text messages to one person: only inside the 24-hour customer service window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core import audit, respondio
from core.errors import UserError
from core.models import Contact, ConsentStatus, Message, User
from core.timeutil import format_dt, utcnow


def window_open(contact: Contact, *, now: datetime | None = None) -> bool:
    return contact.window_expires_at is not None and contact.window_expires_at > (now or utcnow())


def send_text(session: Session, contact: Contact, text: str, *, author: str = "agent", actor: User | None = None,
              conversation_id: int | None = None, provider: respondio.Provider | None = None) -> Message:
    """Send a text and record it. Outside the window WhatsApp refuses free text (131047): a template
    is needed, so nothing is sent and the user is told why."""
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
    own = provider is None
    provider = provider or respondio.provider()
    try:
        message_id = provider.send_text(contact.phone, text)
    except respondio.ProviderError as err:
        raise UserError(f"Envoi refusé par le fournisseur : {respondio.ERROR_LABELS.get(err.whatsapp_code or '', err)}") \
            from err
    finally:
        if own and provider.name != "sandbox":
            provider.close()
    message = Message(conversation_id=conversation_id, contact_id=contact.id, direction="outbound", author=author,
                      agent_id=actor.id if actor else None, text=text, provider_message_id=message_id, status="sent")
    session.add(message)
    session.flush()
    if actor is not None:
        audit.record(session, "message_sent", actor=actor, target_type="contact", target_id=contact.id,
                     details={"message_id": message_id})
    return message
