"""A description of this installation, for administrators. Never returns a secret."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core import db
from core.config import get_settings


def safe_database_url(url: str) -> str:
    """The database URL with its password hidden."""
    return make_url(db.normalize_url(url)).render_as_string(hide_password=True)


def configuration_summary(session: Session) -> list[tuple[str, str]]:
    s = get_settings()
    revision = db.current_revision() or "aucune"
    return [
        ("Mode", "Production" if s.redis_url and not s.database_url.startswith("sqlite")
         else "Embarqué (démonstration)"),
        ("Base de données", f"{session.get_bind().dialect.name} — {safe_database_url(s.database_url)}"),
        ("Version du schéma", revision),
        ("Tâches de fond", "Redis / RQ" if s.redis_url else "Dans le processus de l'application"),
        ("Fournisseur WhatsApp", "Bac à sable (simulation)" if s.sandbox else f"Respond.io — {s.respondio_base_url}"),
        ("Canal WhatsApp Respond.io", str(s.respondio_channel_id or "non défini")),
        ("Clés de signature des webhooks", f"{len(s.webhook_secrets)} configurée(s)"),
        ("Réponses de l'assistant", "Modèle de langage" if s.openai_api_key
         else "Extraits des documents (sans modèle de langage)"),
        ("Modèle d'embeddings", s.embedding_model or "all-MiniLM-L6-v2 (inclus)"),
        ("Expiration de session", f"{s.session_timeout_minutes} minutes d'inactivité"),
        ("Verrouillage du compte", f"après {s.max_failed_logins} échecs, pendant {s.lockout_minutes} minutes"),
        ("Fuseau horaire d'affichage", s.timezone),
    ]
