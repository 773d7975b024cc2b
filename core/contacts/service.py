"""Contacts: search with server-side pagination, a contact's record, consent changes, erasure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from core import audit, exports, labels, outbox, phones, segments
from core.contacts.search import search_text_for
from core.errors import NotFound, UserError
from core.models import (
    Campaign,
    ConsentEvent,
    ConsentStatus,
    Contact,
    Message,
    Recipient,
    Role,
    Segment,
    SegmentMember,
    User,
    table,
)
from core.text import fold
from core.timeutil import format_dt, utcnow


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    consent: str | None = None
    segment_id: int | None = None


def _filters(session: Session, query: SearchQuery) -> list[Any]:
    conditions: list[Any] = [Contact.erased_at.is_(None)]
    term = query.text.strip()
    if term:
        as_phone = phones.normalize(term)
        if as_phone.ok:
            conditions.append(Contact.phone == as_phone.e164)
        else:
            words = [fold(w) for w in term.replace("+", " ").split() if w]
            conditions += [Contact.search_text.contains(w, autoescape=True) for w in words]
    if query.consent:
        conditions.append(Contact.consent_status == query.consent)
    if query.segment_id is not None:
        conditions.append(segments.membership_condition(session, query.segment_id))
    return conditions


def search_statement(session: Session, query: SearchQuery) -> Select[Contact]:
    return select(Contact).where(*_filters(session, query))


@dataclass(frozen=True)
class SearchPage:
    rows: list[Contact]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def search(session: Session, query: SearchQuery, *, page: int = 0, page_size: int = 50) -> SearchPage:
    conditions = _filters(session, query)
    total = session.scalar(select(func.count()).select_from(Contact).where(*conditions)) or 0
    rows = session.scalars(
        select(Contact).where(*conditions).order_by(Contact.id.desc()).limit(page_size).offset(page * page_size)
    ).all()
    return SearchPage(list(rows), total, page, page_size)


def counts(session: Session) -> dict[str, int]:
    by_status = dict(session.execute(
        select(Contact.consent_status, func.count()).where(Contact.erased_at.is_(None)).group_by(Contact.consent_status)
    ).all())
    return {"total": sum(by_status.values()), **{s.value: by_status.get(s.value, 0) for s in ConsentStatus}}


def get(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFound("Contact introuvable.")
    return contact


@dataclass(frozen=True)
class ContactRecord:
    contact: Contact
    segments: list[Segment]
    consent_history: list[ConsentEvent]
    messages: list[dict[str, Any]]  # sent and received, newest first


def by_phone(session: Session, e164: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.phone == e164))


def record(session: Session, contact_id: int, *, message_limit: int = 200) -> ContactRecord:
    contact = get(session, contact_id)
    segs = session.scalars(select(Segment).join(SegmentMember, SegmentMember.segment_id == Segment.id)
                           .where(SegmentMember.contact_id == contact_id).order_by(Segment.name)).all()
    history = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)
                              .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())).all()
    messages: list[dict[str, Any]] = []
    for rec, campaign_name in session.execute(
        select(Recipient, Campaign.name).join(Campaign, Campaign.id == Recipient.campaign_id)
        .where(Recipient.contact_id == contact_id).order_by(Recipient.created_at.desc()).limit(message_limit)
    ).all():
        messages.append({"at": rec.sent_at or rec.created_at, "direction": "outbound", "kind": "campaign",
                         "text": f"Campagne « {campaign_name} »", "status": rec.status, "error_code": rec.error_code})
    for msg in session.scalars(select(Message).where(Message.contact_id == contact_id)
                               .order_by(Message.created_at.desc()).limit(message_limit)).all():
        messages.append({"at": msg.created_at, "direction": msg.direction, "kind": msg.author,
                         "text": msg.text or "", "status": msg.status, "error_code": msg.error_code})
    messages.sort(key=lambda m: m["at"], reverse=True)
    return ContactRecord(contact, list(segs), list(history), messages[:message_limit])


def set_consent(session: Session, contact: Contact, status: str, *, reason: str, actor: User | None,
                source: str = "manuel", at: datetime | None = None) -> Contact:
    """Record an opt-in or opt-out, with its reason, in the consent history and the audit log."""
    if status not in (ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT):
        raise UserError("Choisissez « consentement donné » ou « désinscrit ».")
    reason = reason.strip()
    if not reason:
        raise UserError("Indiquez le motif du changement de consentement.")
    if contact.consent_status == status:
        raise UserError(f"Ce contact est déjà « {labels.CONSENT[ConsentStatus(status)].lower()} ».")
    now = at or utcnow()
    previous = contact.consent_status
    contact.consent_status = status
    contact.consent_source = source
    contact.consent_at = now
    contact.opted_out_at = now if status == ConsentStatus.OPTED_OUT else None
    session.add(ConsentEvent(contact_id=contact.id, status=status, source=source, reason=reason,
                             actor_id=actor.id if actor else None, at=now))
    audit.record(session, "consent_opt_out" if status == ConsentStatus.OPTED_OUT else "consent_opt_in",
                 actor=actor, target_type="contact", target_id=contact.id,
                 details={"from": previous, "to": status, "reason": reason})
    return contact


WHATSAPP_MARKS = {"not_on_whatsapp": "pas sur WhatsApp", "marketing_refused": "refuse le marketing"}


def clear_whatsapp_mark(session: Session, contact: Contact, mark: str, *, actor: User) -> Contact:
    """Take back WhatsApp's verdict on a contact (core/policies.py): the person has installed WhatsApp,
    or asked for the offers again. Managers and administrators; audited."""
    if actor.role not in (Role.MANAGER, Role.ADMIN) or not actor.is_active:
        raise UserError("Seuls les responsables et les administrateurs peuvent retirer cette mention.")
    if mark not in WHATSAPP_MARKS:
        raise UserError("Mention inconnue.")
    column = f"{mark}_at"
    since = getattr(contact, column)
    if since is None:
        raise UserError(f"Ce contact n'est pas marqué « {WHATSAPP_MARKS[mark]} ».")
    setattr(contact, column, None)
    audit.record(session, f"contact_{mark}_cleared", actor=actor, target_type="contact", target_id=contact.id,
                 details={"since": since.isoformat()})
    return contact


def erase(session: Session, contact: Contact, *, reason: str, actor: User | None) -> None:
    """Data-protection erasure: personal data removed, figures kept (ledger statuses, counts)."""
    reason = reason.strip()
    if not reason:
        raise UserError("Indiquez la référence de la demande d'effacement.")
    contact_id = contact.id
    contact.phone = f"efface-{contact_id}"[:20]
    contact.first_name = None
    contact.last_name = None
    contact.attributes = {}
    contact.search_text = ""
    contact.provider_contact_id = None
    contact.consent_status = ConsentStatus.OPTED_OUT
    contact.opted_out_at = contact.opted_out_at or utcnow()
    contact.erased_at = utcnow()
    session.execute(update(Recipient).where(Recipient.contact_id == contact_id)
                    .values(phone=f"efface-{contact_id}"[:20], parameters={}))
    session.execute(update(Message).where(Message.contact_id == contact_id).values(text=None))
    outbox.forget_contact(session, contact_id, placeholder=f"efface-{contact_id}"[:20])
    session.execute(update(ConsentEvent).where(ConsentEvent.contact_id == contact_id).values(reason=None))
    session.execute(table(SegmentMember).delete().where(SegmentMember.contact_id == contact_id))
    audit.record(session, "contact_erased", actor=actor, target_type="contact", target_id=contact_id,
                 details={"reason": reason})


def update_fields(session: Session, contact: Contact, *, first_name: str | None, last_name: str | None,
                  language: str, attributes: dict[str, Any], actor: User | None) -> Contact:
    contact.first_name = (first_name or "").strip() or None
    contact.last_name = (last_name or "").strip() or None
    contact.language = (language or "fr").strip().lower()[:8] or "fr"
    contact.attributes = {k: v for k, v in attributes.items() if k and v not in (None, "")}
    contact.search_text = search_text_for(contact.first_name, contact.last_name, contact.phone, contact.attributes)
    audit.record(session, "contact_updated", actor=actor, target_type="contact", target_id=contact.id)
    return contact


def attribute_keys(session: Session, sample: int = 2000) -> list[str]:
    """The custom attribute names in use (from a sample of recent contacts)."""
    keys: set[str] = set()
    for attrs in session.scalars(select(Contact.attributes).order_by(Contact.id.desc()).limit(sample)).all():
        keys.update(attrs or {})
    return sorted(keys)


def export(session: Session, query: SearchQuery, fmt: str) -> tuple[bytes, int]:
    """The contacts of a search (or a segment) as CSV or XLSX, streamed from the database."""
    conditions = _filters(session, query)
    keys: set[str] = set()
    for attrs in session.execute(select(Contact.attributes).where(*conditions)).scalars().yield_per(5000):
        keys.update(attrs or {})
    ordered = sorted(keys)
    header = ["telephone", "prenom", "nom", "langue", "consentement", "ajoute_le", *ordered]
    columns = select(Contact.phone, Contact.first_name, Contact.last_name, Contact.language, Contact.consent_status,
                     Contact.created_at, Contact.attributes).where(*conditions).order_by(Contact.id)
    count = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal count
        for phone, first, last, language, consent, created, attrs in session.execute(columns).yield_per(5000):
            count += 1
            yield [phone, first, last, language, labels.CONSENT.get(consent, consent), format_dt(created),
                   *[(attrs or {}).get(k) for k in ordered]]

    data = exports.to_csv(header, rows()) if fmt == "csv" else exports.to_xlsx(header, rows(), sheet="Contacts")
    return data, count
