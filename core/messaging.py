"""Free-text messages to one person: only inside the 24-hour customer service window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, outbox, phones, templates
from core.config import get_settings
from core.errors import UserError
from core.models import ConsentStatus, Contact, Message, Template, User
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


def send_test(session: Session, template: Template, *, to: str, contact: Contact | None = None,
              actor: User | None = None) -> int:
    """Record a send of the template, with one contact's values (or the fallbacks), to one number;
    the outbox sends it after commit. Returns the outbox item's id (its state: `core.outbox`)."""
    target = phones.normalize(to)
    if not target.ok:
        raise UserError(f"Numéro de test invalide : {phones.reason_label(target.reason or 'invalid')}.")
    assert target.e164 is not None
    owner = session.scalar(select(Contact).where(Contact.phone == target.e164))
    if owner is not None and (owner.consent_status == ConsentStatus.OPTED_OUT or owner.erased_at is not None):
        raise UserError("Ce numéro appartient à une personne désinscrite : aucun message ne peut lui être envoyé, "
                        "même un test.")
    components, body = templates.prepare(template, contact)
    item = outbox.add_template(session, phone=target.e164, name=template.name, language=template.language,
                               components=components, body=body, purpose="template_test", contact=owner,
                               template_id=template.id, actor=actor, thread=False)
    audit.record(session, "template_test_sent", actor=actor, target_type="template", target_id=template.id,
                 details={"provider": "sandbox" if get_settings().sandbox else "respondio", "outbox_id": item.id})
    return item.id
