"""The audit trail: written in the same transaction as the change it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog, User

# What each action means, as the audit screen shows it.
ACTION_LABELS: dict[str, str] = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "login_blocked": "Connexion refusée (compte verrouillé)",
    "login_throttled": "Connexion retardée (trop d'échecs depuis un même poste)",
    "account_locked": "Compte verrouillé",
    "logout": "Déconnexion",
    "session_expired": "Session expirée",
    "user_created": "Utilisateur créé",
    "user_disabled": "Utilisateur désactivé",
    "user_enabled": "Utilisateur réactivé",
    "user_role_changed": "Rôle modifié",
    "password_reset": "Mot de passe réinitialisé",
    "password_changed": "Mot de passe changé par son titulaire",
    "password_change_refused": "Changement de mot de passe refusé (mot de passe actuel incorrect)",
    "user_unlocked": "Compte déverrouillé",
    "demo_seeded": "Données de démonstration chargées",
    "contacts_imported": "Contacts importés",
    "contact_updated": "Contact modifié",
    "contact_erased": "Contact effacé",
    "consent_opt_out": "Désinscription",
    "consent_opt_in": "Réinscription",
    "segment_created": "Segment créé",
    "segment_updated": "Segment modifié",
    "segment_deleted": "Segment supprimé",
    "segment_members_added": "Contacts ajoutés au segment",
    "segment_members_removed": "Contacts retirés du segment",
    "template_created": "Modèle créé",
    "template_updated": "Modèle modifié",
    "template_deleted": "Modèle supprimé",
    "templates_synced": "Modèles synchronisés",
    "template_test_sent": "Envoi de test d'un modèle",
    "campaign_created": "Campagne créée",
    "campaign_updated": "Brouillon de campagne modifié",
    "campaign_scheduled": "Campagne programmée",
    "campaign_running": "Campagne démarrée",
    "campaign_paused": "Campagne en pause",
    "campaign_completed": "Campagne terminée",
    "campaign_cancelled": "Campagne annulée",
    "campaign_failed": "Campagne en échec",
    "message_sent": "Message envoyé",
    "template_sent": "Modèle envoyé à une personne",
    "conversation_assigned": "Conversation prise en charge",
    "conversation_handled": "Conversation traitée",
    "inbound_event_retried": "Événement Respond.io mis de côté : réessayé",
    "inbound_event_discarded": "Événement Respond.io mis de côté : écarté",
    "kb_document_indexed": "Document indexé (base de connaissances)",
    "kb_document_enabled": "Document réactivé (base de connaissances)",
    "kb_document_disabled": "Document désactivé (base de connaissances)",
    "kb_document_deleted": "Document supprimé (base de connaissances)",
}


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    actor_email: str | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        action=action,
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else actor_email,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditLog]
    total: int


def list_entries(
    session: Session,
    *,
    action: str | None = None,
    actor_email: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    conditions = []
    if action:
        conditions.append(AuditLog.action == action)
    if actor_email:
        conditions.append(AuditLog.actor_email.ilike(f"%{actor_email.strip()}%"))
    if since:
        conditions.append(AuditLog.at >= since)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(*conditions)) or 0
    rows = session.scalars(
        select(AuditLog).where(*conditions).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    ).all()
    return AuditPage(rows=list(rows), total=total)


def label(action: str) -> str:
    return ACTION_LABELS.get(action, action)
