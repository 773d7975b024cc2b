"""WhatsApp message templates: WhatsApp's rules, variable mapping, rendering, import/export, sync.

Variables are positional per component, as WhatsApp defines them: the body's `{{1}}..{{n}}`, at
most one `{{1}}` in a text header, and one `{{1}}` at the end of a URL button. The mapping keys are
the body's variable numbers (`"1"`, `"2"`...), `"header"` for the header's variable and
`"button_<index>"` for a URL button's suffix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, phones
from core.config import get_settings
from core.errors import NotFound, UserError
from core.models import Campaign, Contact, Template, TemplateCategory, TemplateQuality, TemplateStatus, User
from core.timeutil import utcnow

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
VAR_RE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
CONTACT_FIELDS = {"first_name": "Prénom", "last_name": "Nom", "phone": "Téléphone", "language": "Langue"}
SOURCES = ("field", "attribute", "text")

STATUS_LABELS = {
    "APPROVED": "Approuvé", "PENDING": "En attente de validation", "REJECTED": "Refusé", "PAUSED": "En pause",
    "DISABLED": "Désactivé", "IN_APPEAL": "En appel", "PENDING_DELETION": "Suppression en cours",
    "DELETED": "Supprimé", "LIMIT_EXCEEDED": "Limite atteinte",
}
CATEGORY_LABELS = {"MARKETING": "Marketing", "UTILITY": "Service (utilitaire)", "AUTHENTICATION": "Authentification"}
QUALITY_LABELS = {"GREEN": "Bonne", "YELLOW": "Moyenne", "RED": "Faible", "UNKNOWN": "Inconnue"}

Problems = dict[str, list[str]]  # field -> French explanations


def variables(text: str | None) -> list[str]:
    return VAR_RE.findall(text or "")


def _check_positional(text: str, where: str, problems: list[str], *, max_vars: int | None = None) -> list[int]:
    found = variables(text)
    numbers: list[int] = []
    for raw in found:
        if not raw.isdigit() or int(raw) < 1:
            problems.append(f"{where} : la variable « {{{{{raw}}}}} » doit être un numéro : {{{{1}}}}, {{{{2}}}}…")
        else:
            numbers.append(int(raw))
    distinct = sorted(set(numbers))
    if distinct and distinct != list(range(1, len(distinct) + 1)):
        problems.append(f"{where} : les variables doivent se suivre à partir de {{{{1}}}} "
                        f"(trouvé {', '.join(f'{{{{{n}}}}}' for n in distinct)}).")
    if max_vars is not None and len(found) > max_vars:
        problems.append(f"{where} : au plus {max_vars} variable.")
    return distinct


def validate(data: dict[str, Any]) -> Problems:
    """Every WhatsApp rule a template must respect, each failure explained in French by field."""
    problems: Problems = {}

    def add(key: str, message: str) -> None:
        problems.setdefault(key, []).append(message)

    name = data.get("name") or ""
    if not name:
        add("name", "Le nom est obligatoire.")
    elif not NAME_RE.match(name):
        add("name", "Le nom ne peut contenir que des lettres minuscules sans accent, des chiffres et « _ », "
                    "et doit commencer par une lettre (ex. : rappel_cotisation).")
    elif len(name) > 512:
        add("name", "Le nom ne doit pas dépasser 512 caractères.")
    if not LANGUAGE_RE.match(data.get("language") or ""):
        add("language", "Code de langue invalide (ex. : fr, en, pt_BR).")
    if data.get("category") not in {c.value for c in TemplateCategory}:
        add("category", "Catégorie attendue : MARKETING, UTILITY ou AUTHENTICATION.")
    if data.get("status", "PENDING") not in {s.value for s in TemplateStatus}:
        add("status", "Statut inconnu.")
    if data.get("quality", "UNKNOWN") not in {q.value for q in TemplateQuality}:
        add("quality", "Qualité attendue : GREEN, YELLOW, RED ou UNKNOWN.")

    header = data.get("header")
    if header:
        header_problems: list[str] = []
        fmt = header.get("format", "TEXT")
        if fmt not in HEADER_FORMATS:
            header_problems.append("Type d'en-tête attendu : texte, image, vidéo, document ou localisation.")
        elif fmt == "TEXT":
            text = header.get("text") or ""
            if not text.strip():
                header_problems.append("Un en-tête texte ne peut pas être vide.")
            if len(text) > 60:
                header_problems.append(f"L'en-tête texte fait {len(text)} caractères : 60 au maximum.")
            _check_positional(text, "En-tête", header_problems, max_vars=1)
        elif variables(header.get("text")):
            header_problems.append("Un en-tête média n'a pas de variable.")
        if header_problems:
            problems["header"] = header_problems

    body = data.get("body") or ""
    body_problems: list[str] = []
    if not body.strip():
        body_problems.append("Le corps du message est obligatoire.")
    if len(body) > 1024:
        body_problems.append(f"Le corps fait {len(body)} caractères : 1024 au maximum.")
    _check_positional(body, "Corps", body_problems)
    stripped = body.strip()
    if stripped.startswith("{{"):
        body_problems.append("Le corps ne peut pas commencer par une variable.")
    if stripped.endswith("}}"):
        body_problems.append("Le corps ne peut pas se terminer par une variable.")
    if body_problems:
        problems["body"] = body_problems

    footer = data.get("footer") or ""
    if len(footer) > 60:
        add("footer", f"Le pied de message fait {len(footer)} caractères : 60 au maximum.")
    if variables(footer):
        add("footer", "Le pied de message ne peut pas contenir de variable.")

    buttons = data.get("buttons") or []
    if len(buttons) > 10:
        add("buttons", f"{len(buttons)} boutons : 10 au maximum.")
    kinds = [b.get("type") for b in buttons]
    if kinds.count("URL") > 2:
        add("buttons", "Au plus 2 boutons « lien ».")
    if kinds.count("PHONE_NUMBER") > 1:
        add("buttons", "Au plus 1 bouton « appel ».")
    quick = [i for i, k in enumerate(kinds) if k == "QUICK_REPLY"]
    if quick and quick != list(range(quick[0], quick[0] + len(quick))):
        add("buttons", "Les boutons de réponse rapide doivent être regroupés, sans bouton lien ou appel entre eux.")
    for i, button in enumerate(buttons, start=1):
        label = button.get("text") or ""
        if button.get("type") not in BUTTON_TYPES:
            add("buttons", f"Bouton {i} : type attendu réponse rapide, lien ou appel.")
            continue
        if not label.strip():
            add("buttons", f"Bouton {i} : le libellé est obligatoire.")
        if len(label) > 25:
            add("buttons", f"Bouton {i} : le libellé fait {len(label)} caractères, 25 au maximum.")
        if button["type"] == "URL":
            url = button.get("url") or ""
            if not re.match(r"^https?://[^\s]+$", url):
                add("buttons", f"Bouton {i} : adresse web invalide (https://…).")
            url_vars = variables(url)
            if url_vars and (url_vars != ["1"] or not url.rstrip().endswith("}}")):
                add("buttons", f"Bouton {i} : un lien n'a qu'une variable {{{{1}}}}, à la fin de l'adresse.")
        if button["type"] == "PHONE_NUMBER":
            if not phones.normalize(button.get("phone_number")).ok and not re.match(
                    r"^\+\d{6,15}$", str(button.get("phone_number") or "")):
                add("buttons", f"Bouton {i} : numéro de téléphone invalide (format international +241…).")
    return problems


def variable_keys(data: dict[str, Any]) -> list[str]:
    """The mapping keys a template needs: body numbers, then header, then URL buttons."""
    keys = [str(n) for n in sorted({int(v) for v in variables(data.get("body")) if v.isdigit()})]
    header = data.get("header") or {}
    if header.get("format", "TEXT") == "TEXT" and variables(header.get("text")):
        keys.append("header")
    for i, button in enumerate(data.get("buttons") or []):
        if button.get("type") == "URL" and variables(button.get("url")):
            keys.append(f"button_{i}")
    return keys


def validate_mapping(data: dict[str, Any], mapping: dict[str, Any]) -> list[str]:
    problems = []
    for key in variable_keys(data):
        spec = mapping.get(key)
        label = _key_label(key)
        if not spec:
            problems.append(f"{label} : choisissez d'où vient la valeur.")
            continue
        source = spec.get("source")
        if source not in SOURCES:
            problems.append(f"{label} : source attendue champ, attribut ou texte fixe.")
        elif source == "field" and spec.get("field") not in CONTACT_FIELDS:
            problems.append(f"{label} : champ du contact inconnu.")
        elif source == "attribute" and not re.match(r"^[a-z0-9_]{1,64}$", str(spec.get("attribute") or "")):
            problems.append(f"{label} : nom d'attribut invalide.")
        elif source == "text" and not str(spec.get("text") or "").strip():
            problems.append(f"{label} : le texte fixe est vide.")
    unknown = set(mapping) - set(variable_keys(data))
    if unknown:
        problems.append(f"Variables inconnues dans la correspondance : {', '.join(sorted(unknown))}.")
    return problems


def _key_label(key: str) -> str:
    if key == "header":
        return "Variable de l'en-tête"
    if key.startswith("button_"):
        return f"Variable du bouton {int(key.split('_')[1]) + 1}"
    return f"Variable {{{{{key}}}}}"


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """The parameters for one recipient, or why the recipient must be skipped."""

    parameters: dict[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.skip_reason is None


def resolve(spec: dict[str, Any], contact: dict[str, Any]) -> str | None:
    source = spec.get("source")
    if source == "field":
        value = contact.get(spec.get("field", ""))
    elif source == "attribute":
        value = (contact.get("attributes") or {}).get(spec.get("attribute", ""))
    else:
        value = spec.get("text")
    text = "" if value is None else str(value).strip()
    if not text:
        text = str(spec.get("fallback") or "").strip()
    return text or None


def render(data: dict[str, Any], mapping: dict[str, Any], contact: dict[str, Any]) -> Rendered:
    """Parameters for one contact. A variable with no value and no fallback skips the contact: WhatsApp
    would refuse an empty parameter, and a message with a blank where a name should be is worse."""
    values: dict[str, str] = {}
    for key in variable_keys(data):
        value = resolve(mapping.get(key) or {}, contact)
        if value is None:
            return Rendered(skip_reason=f"missing_variable:{key}")
        values[key] = value
    params: dict[str, Any] = {"body": [values[k] for k in values if k.isdigit()]}
    if "header" in values:
        params["header"] = [values["header"]]
    buttons = {k: v for k, v in values.items() if k.startswith("button_")}
    if buttons:
        params["buttons"] = {k.split("_")[1]: v for k, v in buttons.items()}
    return Rendered(params)


def contact_values(contact: Contact) -> dict[str, Any]:
    return {"first_name": contact.first_name, "last_name": contact.last_name, "phone": contact.phone,
            "language": contact.language, "attributes": contact.attributes or {}}


def fill(text: str | None, values: list[str]) -> str:
    """`Bonjour {{1}}` with ["Awa"] -> `Bonjour Awa` (for previews)."""
    def sub(match: re.Match[str]) -> str:
        raw = match.group(1)
        return values[int(raw) - 1] if raw.isdigit() and 0 < int(raw) <= len(values) else match.group(0)

    return VAR_RE.sub(sub, text or "")


def provider_components(template: Template | dict[str, Any], parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Rendered parameters as Respond.io / WhatsApp template components."""
    data = as_dict(template) if isinstance(template, Template) else template
    components: list[dict[str, Any]] = []
    header = data.get("header") or {}
    if parameters.get("header"):
        components.append({"type": "header", "parameters": [{"type": "text", "text": v} for v in parameters["header"]]})
    elif header.get("format") in ("IMAGE", "VIDEO", "DOCUMENT") and header.get("media_url"):
        kind = header["format"].lower()
        components.append({"type": "header", "parameters": [{"type": kind, kind: {"link": header["media_url"]}}]})
    if parameters.get("body"):
        components.append({"type": "body", "parameters": [{"type": "text", "text": v} for v in parameters["body"]]})
    for index, value in (parameters.get("buttons") or {}).items():
        components.append({"type": "button", "sub_type": "url", "index": str(index),
                           "parameters": [{"type": "text", "text": value}]})
    return components


# --- storage -----------------------------------------------------------------------------------

CONTENT_FIELDS = ("name", "language", "category", "header", "body", "footer", "buttons")
FIELDS = ("name", "language", "category", "status", "quality", "header", "body", "footer", "buttons",
          "variable_mapping")


def as_dict(template: Template) -> dict[str, Any]:
    return {"name": template.name, "language": template.language, "category": template.category,
            "status": template.status, "quality": template.quality, "header": template.header,
            "body": template.body, "footer": template.footer, "buttons": template.buttons or [],
            "variable_mapping": template.variable_mapping or {}}


def clean(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data.get(k) for k in FIELDS}
    out["name"] = (out["name"] or "").strip()
    out["language"] = (out["language"] or "fr").strip()
    out["category"] = (out["category"] or "").strip().upper()
    out["status"] = (out["status"] or "PENDING").strip().upper()
    out["quality"] = (out["quality"] or "UNKNOWN").strip().upper()
    out["footer"] = (out["footer"] or "").strip() or None
    out["buttons"] = out["buttons"] or []
    out["variable_mapping"] = {str(k): v for k, v in (out["variable_mapping"] or {}).items()}
    header = out["header"]
    if isinstance(header, str):
        header = {"format": "TEXT", "text": header}
    out["header"] = header or None
    return out


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


# --- sync from the provider --------------------------------------------------------------------


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


# --- test send ---------------------------------------------------------------------------------


def names(session: Session) -> dict[int, str]:
    """Template names by id, in alphabetical order."""
    return dict(session.execute(select(Template.id, Template.name).order_by(Template.name)).tuples().all())


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
        raise UserError(f"{_key_label(key)} : ce contact n'a pas de valeur et aucune valeur par défaut n'est prévue.")
    return provider_components(template, rendered.parameters), fill(template.body, rendered.parameters.get("body", []))
