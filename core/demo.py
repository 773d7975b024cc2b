"""A realistic demo data set: Gabonese contacts in segments, templates, past campaigns,
conversations. Deterministic and idempotent: a second run adds nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core import audit, stats, templates, users
from core.auth import get_user_by_email
from core.contacts.search import search_text_for
from core.models import (
    Campaign,
    CampaignStatus,
    ChatbotInteraction,
    ConsentEvent,
    ConsentStatus,
    Contact,
    Conversation,
    ConversationStatus,
    Message,
    Recipient,
    RecipientStatus,
    Role,
    Segment,
    SegmentKind,
    SegmentMember,
    Setting,
    StatusEvent,
    Template,
)
from core.timeutil import utcnow

SEED_KEY = "demo.seeded_at"

DEMO_USERS = (
    ("admin@cnss.ga", "Administrateur CNSS", Role.ADMIN),
    ("communication@cnss.ga", "Service Communication", Role.MANAGER),
    ("superviseur@cnss.ga", "Superviseur Relation Usagers", Role.SUPERVISOR),
    ("agent@cnss.ga", "Agent Centre d'appels", Role.AGENT),
)

FIRST_NAMES = (
    "Jean", "Marie", "Paul", "Brice", "Sylvie", "Ghislain", "Prisca", "Rodrigue", "Nadège", "Christelle",
    "Hervé", "Arsène", "Gisèle", "Ulrich", "Carine", "Landry", "Josiane", "Franck", "Clarisse", "Yannick",
    "Aurélie", "Cédric", "Murielle", "Davy", "Patience", "Grâce", "Serge", "Régis", "Michel", "Anne",
    "Christian", "Rose", "Didier", "Berthe", "Fabrice", "Linda", "Junior", "Stévy", "Annick", "Thierry",
)
LAST_NAMES = (
    "Nguema", "Ondo", "Obiang", "Mba", "Ndong", "Ella", "Essono", "Nze", "Mintsa", "Moussavou", "Mouele",
    "Boussougou", "Koumba", "Mabika", "Ndjoubi", "Nzamba", "Ogandaga", "Oyane", "Ntoutoume", "Abessolo",
    "Ekomi", "Edzang", "Mvé", "Obame", "Engonga", "Allogo", "Mengue", "Nziengui", "Mbina", "Ibinga",
    "Pambo", "Kombila", "Makaya", "Mapangou", "Massala", "Mboumba", "Ndembi", "Bivigou", "Lekogo", "Ayo",
)
AGENCIES = (
    ("Libreville", 0.45), ("Port-Gentil", 0.15), ("Franceville", 0.10), ("Oyem", 0.08),
    ("Lambaréné", 0.06), ("Mouila", 0.06), ("Moanda", 0.05), ("Tchibanga", 0.05),
)
MOBILE_PREFIXES = ("60", "62", "65", "66", "74", "76", "77", "77", "77", "74")
INSURED_TYPES = (("assuré salarié", 0.62), ("pensionné", 0.28), ("employeur", 0.10))

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "date_paiement_pension", "category": "UTILITY", "status": "APPROVED", "quality": "GREEN",
        "header": {"format": "TEXT", "text": "Paiement des pensions"},
        "body": "Bonjour {{1}}, la CNSS vous informe que les pensions du {{2}} seront versées à partir du {{3}}. "
                "Pour toute question, appelez le 1432.",
        "footer": "CNSS Gabon",
        "buttons": [{"type": "URL", "text": "e-CNSS", "url": "https://e.cnss.ga"}],
        "variable_mapping": {
            "1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"},
            "2": {"source": "text", "text": "4e trimestre 2026"},
            "3": {"source": "text", "text": "15 décembre 2026"},
        },
    },
    {
        "name": "rappel_certificat_vie", "category": "UTILITY", "status": "APPROVED", "quality": "GREEN",
        "header": None,
        "body": "Bonjour {{1}}, votre certificat de vie doit être déposé avant le {{2}} pour maintenir le "
                "paiement de votre pension. Dépôt en agence ou sur e.cnss.ga.",
        "footer": "CNSS Gabon",
        "buttons": [{"type": "QUICK_REPLY", "text": "C'est fait"}, {"type": "QUICK_REPLY", "text": "Être rappelé"}],
        "variable_mapping": {
            "1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"},
            "2": {"source": "text", "text": "31 janvier 2027"},
        },
    },
    {
        "name": "echeance_dts_employeur", "category": "UTILITY", "status": "APPROVED", "quality": "YELLOW",
        "header": {"format": "TEXT", "text": "Déclaration trimestrielle"},
        "body": "Madame, Monsieur, la déclaration trimestrielle des salaires (DTS) de {{1}} est attendue avant "
                "le {{2}}. Matricule employeur : {{3}}.",
        "footer": "CNSS Gabon",
        "buttons": [{"type": "PHONE_NUMBER", "text": "Appeler le 1432", "phone_number": "+2411432"}],
        "variable_mapping": {
            "1": {"source": "text", "text": "votre entreprise"},
            "2": {"source": "text", "text": "15 janvier 2027"},
            "3": {"source": "attribute", "attribute": "matricule"},
        },
    },
    {
        "name": "nouveaux_taux_2026", "category": "UTILITY", "status": "APPROVED", "quality": "GREEN",
        "header": None,
        "body": "Bonjour {{1}}, depuis le 1er janvier 2026 les taux de cotisation sont : prestations familiales 5 %, "
                "risques professionnels 2 %, pensions 16 %, plafond mensuel 1 500 000 FCFA.",
        "footer": "CNSS Gabon",
        "buttons": [],
        "variable_mapping": {"1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"}},
    },
    {
        "name": "maintien_des_droits", "category": "MARKETING", "status": "APPROVED", "quality": "GREEN",
        "header": {"format": "TEXT", "text": "Maintien des droits"},
        "body": "Bonjour {{1}}, la campagne de maintien des droits est ouverte. Déposez les certificats scolaires "
                "et médicaux de vos enfants sur e.cnss.ga avant le {{2}}.",
        "footer": "Répondez STOP pour ne plus recevoir ces messages",
        "buttons": [{"type": "URL", "text": "Déposer en ligne", "url": "https://e.cnss.ga"}],
        "variable_mapping": {
            "1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"},
            "2": {"source": "text", "text": "28 février 2027"},
        },
    },
    {
        "name": "horaires_agences_fetes", "category": "MARKETING", "status": "PENDING", "quality": "UNKNOWN",
        "header": None,
        "body": "Bonjour {{1}}, pendant les fêtes, l'agence de {{2}} sera ouverte de 8 h à 13 h.",
        "footer": None, "buttons": [],
        "variable_mapping": {
            "1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"},
            "2": {"source": "attribute", "attribute": "agence", "fallback": "votre ville"},
        },
    },
    {
        "name": "promo_jeu_concours", "category": "MARKETING", "status": "REJECTED", "quality": "UNKNOWN",
        "header": None, "body": "Gagnez des cadeaux avec la CNSS, {{1}} !", "footer": None, "buttons": [],
        "variable_mapping": {"1": {"source": "field", "field": "first_name"}},
    },
)

# Outcome shares for a sent WhatsApp template, and real WhatsApp error codes for the failures.
OUTCOMES = (("read", 0.58), ("delivered", 0.27), ("sent", 0.04), ("failed", 0.11))
FAILURE_CODES = (("131026", 0.55), ("131049", 0.15), ("131047", 0.05), ("131056", 0.10), ("131050", 0.15))

INBOUND_QUESTIONS = (
    "Bonjour, quand est-ce que la pension de décembre sera payée ?",
    "Comment déposer mon certificat de vie depuis la France ?",
    "Je veux parler à un conseiller s'il vous plaît",
    "Quels documents pour la prime de naissance ?",
    "Mon employeur ne m'a pas déclaré, que faire ?",
    "Merci pour l'information",
    "STOP",
    "Le site e.cnss.ga ne marche pas chez moi",
)
# The document of the demo knowledge base each answered question relies on (its topic).
QUESTION_TOPICS = {
    INBOUND_QUESTIONS[0]: "Pensions de vieillesse, d'invalidité et de décès",
    INBOUND_QUESTIONS[1]: "Pensions de vieillesse, d'invalidité et de décès",
    INBOUND_QUESTIONS[3]: "Prestations familiales et de maternité",
    INBOUND_QUESTIONS[5]: "La CNSS du Gabon",
}


def _is_mobile(phone: str) -> bool:
    parsed = phonenumbers.parse(phone)
    return phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _bulk_insert(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in one statement; an empty list inserts nothing (not one row of defaults)."""
    if rows:
        session.execute(insert(model), rows)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


@dataclass
class SeedResult:
    seeded: bool
    users: list[dict[str, str]] = field(default_factory=list)  # new accounts with their one-time password
    contacts: int = 0
    segments: int = 0
    templates: int = 0
    campaigns: int = 0
    recipients: int = 0
    conversations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _seed_users(session: Session, result: SeedResult) -> None:
    for email, name, role in DEMO_USERS:
        if get_user_by_email(session, email) is None:
            password = users.generate_password()
            users.create(session, email=email, name=name, role=role, password=password)
            result.users.append({"email": email, "role": role.value, "password": password})


def _make_contacts(rng: random.Random, now: datetime, count: int) -> list[dict[str, Any]]:
    phones: set[str] = set()
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        abroad = rng.random() < 0.03
        if abroad:
            phone = "+336" + "".join(rng.choice("0123456789") for _ in range(8))
        else:
            phone = "+241" + rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(6))
        if phone in phones or not _is_mobile(phone):
            continue
        phones.add(phone)
        kind = _weighted(rng, INSURED_TYPES)
        consent_roll = rng.random()
        consent = (ConsentStatus.OPTED_IN if consent_roll < 0.88 else
                   ConsentStatus.UNKNOWN if consent_roll < 0.95 else ConsentStatus.OPTED_OUT)
        created = now - timedelta(days=rng.randint(30, 700), minutes=rng.randint(0, 1440))
        attrs: dict[str, Any] = {
            "matricule": f"{'E' if kind == 'employeur' else 'A'}{rng.randint(1000000, 9999999)}",
            "agence": "Paris (résident à l'étranger)" if abroad else _weighted(rng, AGENCIES),
            "type_assure": kind,
        }
        if kind == "pensionné":
            attrs["annee_naissance"] = rng.randint(1940, 1966)
        first = None if kind == "employeur" else rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES) if kind != "employeur" else f"Société {rng.choice(LAST_NAMES)} SARL"
        rows.append({
            "phone": phone,
            "first_name": first,
            "last_name": last,
            "search_text": search_text_for(first, last, phone, attrs),  # found by name, like any contact
            "language": "fr",
            "attributes": attrs,
            "consent_status": consent.value,
            "consent_source": rng.choice(("formulaire agence", "e.cnss.ga", "import RH employeur")),
            "consent_at": created,
            "opted_out_at": created + timedelta(days=rng.randint(1, 25))
            if consent == ConsentStatus.OPTED_OUT else None,
            "created_at": created,
            "updated_at": created,
        })
    return rows


def seed(session: Session, *, contacts: int = 3000, random_seed: int = 241) -> SeedResult:
    """Load the demo data once; user accounts missing from an earlier seed are created again."""
    result = SeedResult(seeded=False)
    _seed_users(session, result)
    if session.get(Setting, SEED_KEY) is not None:
        return result

    rng = random.Random(random_seed)
    now = utcnow().replace(microsecond=0)
    admin = get_user_by_email(session, DEMO_USERS[0][0])

    # Contacts and their consent history
    contact_rows = _make_contacts(rng, now, contacts)
    _bulk_insert(session, Contact, contact_rows)
    id_by_phone = dict(session.execute(select(Contact.phone, Contact.id)).all())
    for row in contact_rows:
        row["id"] = id_by_phone[row["phone"]]
    consent_rows = [{"contact_id": r["id"],
                     "status": ConsentStatus.OPTED_IN.value if r["consent_status"] != "unknown" else "unknown",
                     "source": r["consent_source"], "at": r["consent_at"]} for r in contact_rows]
    consent_rows += [{"contact_id": r["id"], "status": ConsentStatus.OPTED_OUT.value, "source": "whatsapp",
                      "reason": "Réponse STOP", "at": r["opted_out_at"]} for r in contact_rows if r["opted_out_at"]]
    _bulk_insert(session, ConsentEvent, consent_rows)
    result.contacts = len(contact_rows)

    # Segments: static lists and two dynamic ones (rules are data, evaluated by core.segments)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in contact_rows:
        by_type.setdefault(row["attributes"]["type_assure"], []).append(row)
    static_segments = {
        "Pensionnés": by_type["pensionné"],
        "Employeurs": by_type["employeur"],
        "Assurés salariés": by_type["assuré salarié"],
        "Agence de Libreville": [r for r in contact_rows if r["attributes"]["agence"] == "Libreville"],
        "Pensionnés résidant à l'étranger": [r for r in by_type["pensionné"] if not r["phone"].startswith("+241")],
    }
    segment_ids: dict[str, int] = {}
    for name, members in static_segments.items():
        seg = Segment(name=name, kind=SegmentKind.STATIC, description=f"Liste importée ({len(members)} contacts)",
                      created_by=admin.id if admin else None, created_at=now - timedelta(days=90))
        session.add(seg)
        session.flush()
        segment_ids[name] = seg.id
        _bulk_insert(session, SegmentMember, [{"segment_id": seg.id, "contact_id": m["id"]} for m in members])
    for name, rules in (
        ("Pensionnés de Port-Gentil", {"match": "all", "rules": [
            {"field": "attribute:type_assure", "operator": "equals", "value": "pensionné"},
            {"field": "attribute:agence", "operator": "equals", "value": "Port-Gentil"}]}),
        ("Employeurs hors Libreville", {"match": "all", "rules": [
            {"field": "attribute:type_assure", "operator": "equals", "value": "employeur"},
            {"field": "attribute:agence", "operator": "not_equals", "value": "Libreville"}]}),
    ):
        session.add(Segment(name=name, kind=SegmentKind.DYNAMIC, rules=rules, description="Segment dynamique",
                            created_by=admin.id if admin else None))
    result.segments = len(static_segments) + 2

    # Templates
    template_ids: dict[str, int] = {}
    for spec in TEMPLATES:
        tpl = Template(language="fr", synced_at=now - timedelta(days=1), **spec)
        session.add(tpl)
        session.flush()
        template_ids[spec["name"]] = tpl.id
    result.templates = len(TEMPLATES)

    # Past campaigns with their ledger and status events
    plans = (
        ("Paiement des pensions - T3 2026", "date_paiement_pension", "Pensionnés", 62, CampaignStatus.COMPLETED),
        ("Certificats de vie 2026", "rappel_certificat_vie", "Pensionnés", 40, CampaignStatus.COMPLETED),
        ("Échéance DTS - T3 2026", "echeance_dts_employeur", "Employeurs", 21, CampaignStatus.COMPLETED),
        ("Nouveaux taux 2026", "nouveaux_taux_2026", "Agence de Libreville", 9, CampaignStatus.COMPLETED),
        ("Maintien des droits 2027", "maintien_des_droits", "Assurés salariés", 3, CampaignStatus.CANCELLED),
        ("Paiement des pensions - T4 2026", "date_paiement_pension", "Pensionnés", -5, CampaignStatus.SCHEDULED),
        ("Fêtes de fin d'année", "horaires_agences_fetes", "Agence de Libreville", 0, CampaignStatus.DRAFT),
    )
    template_by_name = {t["name"]: t for t in TEMPLATES}
    contacts_by_id = {r["id"]: r for r in contact_rows}
    for name, tpl_name, seg_name, days_ago, status in plans:
        launched = now - timedelta(days=days_ago, hours=rng.randint(0, 3)) if days_ago > 0 else None
        if launched:
            launched = launched.replace(hour=9, minute=0, second=0)  # 10:00 in Libreville
        campaign = Campaign(
            name=name, status=status, template_id=template_ids[tpl_name],
            variable_mapping=template_by_name[tpl_name]["variable_mapping"],
            include_segment_ids=[segment_ids[seg_name]], rate_limit=20,
            scheduled_at=(now + timedelta(days=-days_ago)).replace(hour=9, minute=0, second=0)
            if days_ago < 0 else launched,
            launched_at=launched, started_at=launched, created_by=admin.id if admin else None,
            created_at=(launched or now) - timedelta(days=2),
            status_reason="Annulée : dates à confirmer par la direction"
            if status == CampaignStatus.CANCELLED else None,
        )
        session.add(campaign)
        session.flush()
        if launched is None:
            continue
        audience = [m for m in static_segments[seg_name] if m["consent_status"] != ConsentStatus.OPTED_OUT]
        ledger, events = _ledger(rng, campaign.id, audience, template_by_name[tpl_name], launched,
                                 cancel_after=0.35 if status == CampaignStatus.CANCELLED else None)
        _bulk_insert(session, Recipient, ledger)
        rid = dict(session.execute(select(Recipient.contact_id, Recipient.id)
                                   .where(Recipient.campaign_id == campaign.id)).all())
        _bulk_insert(session, StatusEvent, [dict(e, recipient_id=rid[e.pop("contact_id")]) for e in events])
        campaign.total_recipients = len(ledger)
        stats.mark(session, [campaign.id])
        last_sent = max((r["sent_at"] for r in ledger if r["sent_at"]), default=launched)
        campaign.completed_at = last_sent + timedelta(minutes=5)
        result.recipients += len(ledger)
    result.campaigns = len(plans)

    result.conversations = _conversations(session, rng, now, contact_rows, contacts_by_id)
    session.add(Setting(key=SEED_KEY, value={"at": now.isoformat(), "contacts": result.contacts}))
    audit.record(session, "demo_seeded", actor_email="cli", details={"contacts": result.contacts})
    result.seeded = True
    return result


def _ledger(rng: random.Random, campaign_id: int, audience: list[dict[str, Any]], template: dict[str, Any],
            launched: datetime, cancel_after: float | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ledger: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i, contact in enumerate(audience):
        rendered = templates.render(template, template["variable_mapping"], contact)
        params = rendered.parameters if rendered.ok else None
        row: dict[str, Any] = {
            "campaign_id": campaign_id, "contact_id": contact["id"], "phone": contact["phone"],
            "parameters": params or {}, "created_at": launched, "updated_at": launched,
            "sent_at": None, "delivered_at": None, "read_at": None, "failed_at": None, "replied_at": None,
            "provider_message_id": None, "error_code": None, "skip_reason": None, "attempts": 0,
        }
        if params is None:
            row.update(status=RecipientStatus.SKIPPED.value, skip_reason=rendered.skip_reason)
            ledger.append(row)
            continue
        if cancel_after is not None and i > len(audience) * cancel_after:
            row["status"] = RecipientStatus.PENDING.value
            ledger.append(row)
            continue
        sent = launched + timedelta(seconds=i // 20 + rng.random())
        outcome = _weighted(rng, OUTCOMES)
        row.update(attempts=1, sent_at=sent, provider_message_id=str(10_000_000 + campaign_id * 100_000 + i),
                   status=outcome)
        events.append({"contact_id": contact["id"], "status": "sent", "source": "webhook", "occurred_at": sent,
                       "received_at": sent})
        if outcome == "failed":
            code = _weighted(rng, FAILURE_CODES)
            failed = sent + timedelta(seconds=rng.randint(2, 90))
            row.update(failed_at=failed, error_code=code)
            events.append({"contact_id": contact["id"], "status": "failed", "error_code": code, "source": "webhook",
                           "occurred_at": failed, "received_at": failed})
        if outcome in ("delivered", "read"):
            delivered = sent + timedelta(seconds=int(rng.lognormvariate(2.5, 1.2)) + 1)
            row["delivered_at"] = delivered
            events.append({"contact_id": contact["id"], "status": "delivered", "source": "webhook",
                           "occurred_at": delivered, "received_at": delivered})
            if outcome == "read":
                read = delivered + timedelta(minutes=int(rng.lognormvariate(3.5, 1.5)))
                row["read_at"] = read
                events.append({"contact_id": contact["id"], "status": "read", "source": "webhook",
                               "occurred_at": read, "received_at": read})
                if rng.random() < 0.08:
                    row["replied_at"] = read + timedelta(minutes=rng.randint(1, 120))
        row["updated_at"] = max(v for k, v in row.items() if k.endswith("_at") and isinstance(v, datetime))
        ledger.append(row)
    return ledger, events


def _conversations(session: Session, rng: random.Random, now: datetime, contact_rows: list[dict[str, Any]],
                   contacts_by_id: dict[int, dict[str, Any]]) -> int:
    reachable = [r for r in contact_rows if r["consent_status"] != "opted_out"]
    people = rng.sample(reachable, min(24, len(reachable)))
    for n, person in enumerate(people):
        question = INBOUND_QUESTIONS[n % len(INBOUND_QUESTIONS)]
        at = now - timedelta(hours=rng.randint(1, 60), minutes=rng.randint(0, 59))
        wants_human = "conseiller" in question or "employeur" in question or "marche pas" in question
        status = ConversationStatus.WAITING_AGENT if wants_human else (
            ConversationStatus.CLOSED if question in ("STOP", "Merci pour l'information") else ConversationStatus.BOT)
        conv = Conversation(contact_id=person["id"], status=status, last_message_at=at, created_at=at, updated_at=at,
                            handoff_reason="requested" if "conseiller" in question else
                            ("bot_unsure" if wants_human else None),
                            handed_over_at=at if wants_human else None)
        session.add(conv)
        session.flush()
        session.add(Message(conversation_id=conv.id, contact_id=person["id"], direction="inbound", author="contact",
                            text=question, created_at=at))
        if not wants_human and question not in ("STOP", "Merci pour l'information"):
            session.add(Message(conversation_id=conv.id, contact_id=person["id"], direction="outbound", author="bot",
                                text="Réponse de l'assistant CNSS (démonstration).",
                                created_at=at + timedelta(seconds=3),
                                sources=[{"title": "Guide de l'assuré CNSS (démonstration)", "page": 1}]))
        session.add(ChatbotInteraction(channel="whatsapp", conversation_id=conv.id, question=question,
                                       answer=None if wants_human else "Réponse de démonstration",
                                       refused=wants_human, handed_over=wants_human,
                                       latency_ms=rng.randint(150, 900), created_at=at,
                                       topic="Hors du champ des documents" if wants_human else
                                       QUESTION_TOPICS.get(question)))
        contact = session.get(Contact, person["id"])
        if contact is not None:
            contact.last_inbound_at = at
            contact.window_expires_at = at + timedelta(hours=24)
    return len(people)
