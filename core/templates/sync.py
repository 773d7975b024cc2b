"""Templates as WhatsApp decided them: names, categories, statuses and components brought from the
provider's list. The provider is the authority here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.models import Template, TemplateQuality, TemplateStatus, User
from core.timeutil import utcnow


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def summary(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def sync(session: Session, remote: list[dict[str, Any]], *, actor: User | None = None) -> SyncReport:
    """Update names, categories, statuses and components from the provider's list. The provider is
    the authority here, so its templates are stored even when they break a local rule."""
    report = SyncReport()
    now = utcnow()
    for item in remote:
        data = from_provider(item)
        if not data["name"]:
            continue
        template = session.scalar(select(Template).where(Template.name == data["name"],
                                                         Template.language == data["language"]))
        if template is None:
            session.add(Template(**data, variable_mapping={}, synced_at=now))
            report.created += 1
            continue
        changed = {k: v for k, v in data.items() if getattr(template, k) != v}
        template.synced_at = now
        if changed:
            for key, value in changed.items():
                setattr(template, key, value)
            report.updated += 1
        else:
            report.unchanged += 1
    audit.record(session, "templates_synced", actor=actor, actor_email=None if actor else "cli",
                 details=report.summary())
    return report


def from_provider(item: dict[str, Any]) -> dict[str, Any]:
    """A template as Respond.io / WhatsApp lists it (components), in this product's shape."""
    components = item.get("components") or []
    by_type = {str(c.get("type", "")).upper(): c for c in components if isinstance(c, dict)}
    header = by_type.get("HEADER")
    buttons = []
    for b in (by_type.get("BUTTONS") or {}).get("buttons") or []:
        button = {"type": str(b.get("type", "")).upper(), "text": b.get("text", "")}
        if b.get("url"):
            button["url"] = b["url"]
        if b.get("phone_number"):
            button["phone_number"] = b["phone_number"]
        buttons.append(button)
    language = item.get("language") or item.get("languageCode") or "fr"
    if isinstance(language, dict):
        language = language.get("code", "fr")
    status = str(item.get("status") or "PENDING").upper()
    quality = item.get("quality_score") or item.get("quality") or "UNKNOWN"
    if isinstance(quality, dict):
        quality = quality.get("score", "UNKNOWN")
    return {
        "name": str(item.get("name") or "").strip(),
        "language": str(language),
        "category": str(item.get("category") or "UTILITY").upper(),
        "status": status if status in {s.value for s in TemplateStatus} else "PENDING",
        "quality": str(quality).upper() if str(quality).upper() in {q.value for q in TemplateQuality} else "UNKNOWN",
        "header": {"format": str(header.get("format", "TEXT")).upper(), "text": header.get("text")} if header else None,
        "body": (by_type.get("BODY") or {}).get("text") or "",
        "footer": (by_type.get("FOOTER") or {}).get("text"),
        "buttons": buttons,
        "provider_template_id": str(item.get("id")) if item.get("id") is not None else None,
    }
