"""Templates stored: create, update, delete (each audited), JSON import and export, and the test
send's preparation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.config import get_settings
from core.errors import NotFound, UserError
from core.models import Campaign, Contact, Template, TemplateQuality, TemplateStatus, User
from core.templates.rendering import contact_values, fill, provider_components, render
from core.templates.rules import CONTENT_FIELDS, Problems, as_dict, clean, key_label, validate, validate_mapping


def check(data: dict[str, Any]) -> None:
    problems = validate(data)
    mapping_problems = validate_mapping(data, data.get("variable_mapping") or {})
    if mapping_problems:
        problems["variable_mapping"] = mapping_problems
    if problems:
        raise TemplateInvalid(problems)


class TemplateInvalid(UserError):
    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        super().__init__(" ".join(m for msgs in problems.values() for m in msgs))


def get(session: Session, template_id: int) -> Template:
    template = session.get(Template, template_id)
    if template is None:
        raise NotFound("Modèle introuvable.")
    return template


def list_all(session: Session, *, status: str | None = None) -> list[Template]:
    stmt = select(Template).order_by(Template.name, Template.language)
    if status:
        stmt = stmt.where(Template.status == status)
    return list(session.scalars(stmt).all())


def approved(session: Session) -> list[Template]:
    """The only templates a campaign may use."""
    return list_all(session, status=TemplateStatus.APPROVED)


def save(session: Session, data: dict[str, Any], *, actor: User | None = None,
         template_id: int | None = None) -> Template:
    """Create or update a template. Its status and quality are WhatsApp's decisions: outside the
    sandbox a person's save keeps what the sync from Respond.io set (a new one is PENDING)."""
    data = clean(data)
    if actor is not None and not get_settings().sandbox:
        current = session.get(Template, template_id) if template_id is not None else None
        data["status"] = current.status if current is not None else TemplateStatus.PENDING.value
        data["quality"] = current.quality if current is not None else TemplateQuality.UNKNOWN.value
        if current is not None and any(data.get(k) != getattr(current, k) for k in CONTENT_FIELDS):
            # What WhatsApp approved is no longer what would be sent: to be approved again (the sync
            # brings back WhatsApp's text and status).
            data["status"] = TemplateStatus.PENDING.value
    check(data)
    clash = session.scalar(select(Template).where(Template.name == data["name"], Template.language == data["language"],
                                                  Template.id != (template_id or -1)))
    if clash is not None:
        raise TemplateInvalid({"name": [f"Un modèle « {data['name']} » existe déjà en langue « {data['language']} »."]})
    if template_id is None:
        template = Template(**data)
        session.add(template)
        action = "template_created"
    else:
        template = get(session, template_id)
        for key, value in data.items():
            setattr(template, key, value)
        action = "template_updated"
    session.flush()
    audit.record(session, action, actor=actor, actor_email=None if actor else "cli", target_type="template",
                 target_id=template.id, details={"name": template.name, "status": template.status})
    return template


def delete(session: Session, template: Template, *, actor: User | None = None) -> None:
    if session.scalar(select(Campaign.id).where(Campaign.template_id == template.id).limit(1)):
        raise UserError("Ce modèle est utilisé par une campagne : il ne peut pas être supprimé.")
    audit.record(session, "template_deleted", actor=actor, target_type="template", target_id=template.id,
                 details={"name": template.name})
    session.delete(template)


# --- JSON import / export ----------------------------------------------------------------------


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)  # {"index", "name", "problems"}

    def summary(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "refused": len(self.refused),
                "refused_templates": self.refused}


def import_json(session: Session, text: str, *, actor: User | None = None) -> ImportReport:
    """Valid templates are written; invalid ones are refused with their reasons and change nothing."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"Fichier JSON illisible (ligne {err.lineno}, colonne {err.colno}).") from err
    if not isinstance(items, list):
        raise UserError("Le fichier doit contenir une liste de modèles.")
    report = ImportReport()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            report.refused.append({"index": index, "name": None,
                                   "problems": {"_": ["Élément qui n'est pas un objet."]}})
            continue
        data = clean(item)
        existing = session.scalar(select(Template).where(Template.name == data["name"],
                                                         Template.language == data["language"]))
        try:
            with session.begin_nested():
                save(session, data, actor=actor, template_id=existing.id if existing else None)
        except TemplateInvalid as err:
            report.refused.append({"index": index, "name": data["name"], "problems": err.problems})
            continue
        if existing:
            report.updated += 1
        else:
            report.created += 1
    return report


def export_json(session: Session) -> str:
    return json.dumps([as_dict(t) for t in list_all(session)], ensure_ascii=False, indent=2)


def names(session: Session) -> dict[int, str]:
    """Template names by id, in alphabetical order."""
    return dict(session.execute(select(Template.id, Template.name).order_by(Template.name)).all())


def prepare(template: Template, contact: Contact | None,
            mapping: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], str]:
    """The provider components with the contact's values (or the fallbacks), and the text as the
    person reads it; refused with a French reason when the template cannot be sent so."""
    if template.status != TemplateStatus.APPROVED:
        raise UserError("Seul un modèle approuvé peut être envoyé.")
    values = contact_values(contact) if contact else {"attributes": {}}
    rendered = render(as_dict(template), mapping if mapping is not None else (template.variable_mapping or {}), values)
    if not rendered.ok:
        key = (rendered.skip_reason or "").split(":", 1)[-1]
        raise UserError(f"{key_label(key)} : ce contact n'a pas de valeur et aucune valeur par défaut n'est prévue.")
    return provider_components(template, rendered.parameters), fill(template.body, rendered.parameters.get("body", []))
