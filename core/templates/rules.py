"""WhatsApp's rules for a template, one function per part; the variables it needs and how a
mapping fills them; the template as data (`as_dict`, `clean`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core import labels, phones
from core.models import Template, TemplateCategory, TemplateQuality, TemplateStatus
from core.text import fold

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
VAR_RE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
SOURCES = ("field", "attribute", "text")

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
    """Every WhatsApp rule a template must respect, each failure explained in French by field: one
    function per part of the template, in the order the editor shows them."""
    problems: Problems = {}
    for key, rule in PARTS:
        found = rule(data)
        if found:
            problems[key] = found
    return problems


def name_problems(data: dict[str, Any]) -> list[str]:
    name = data.get("name") or ""
    if not name:
        return ["Le nom est obligatoire."]
    if not NAME_RE.match(name):
        return ["Le nom ne peut contenir que des lettres minuscules sans accent, des chiffres et « _ », "
                "et doit commencer par une lettre (ex. : rappel_cotisation)."]
    if len(name) > 512:
        return ["Le nom ne doit pas dépasser 512 caractères."]
    return []


def language_problems(data: dict[str, Any]) -> list[str]:
    return [] if LANGUAGE_RE.match(data.get("language") or "") else ["Code de langue invalide (ex. : fr, en, pt_BR)."]


def category_problems(data: dict[str, Any]) -> list[str]:
    if data.get("category") in {c.value for c in TemplateCategory}:
        return []
    return ["Catégorie attendue : MARKETING, UTILITY ou AUTHENTICATION."]


def status_problems(data: dict[str, Any]) -> list[str]:
    return [] if data.get("status", "PENDING") in {s.value for s in TemplateStatus} else ["Statut inconnu."]


def quality_problems(data: dict[str, Any]) -> list[str]:
    if data.get("quality", "UNKNOWN") in {q.value for q in TemplateQuality}:
        return []
    return ["Qualité attendue : GREEN, YELLOW, RED ou UNKNOWN."]


def header_problems(data: dict[str, Any]) -> list[str]:
    header = data.get("header")
    if not header:
        return []
    problems: list[str] = []
    fmt = header.get("format", "TEXT")
    if fmt not in HEADER_FORMATS:
        problems.append("Type d'en-tête attendu : texte, image, vidéo, document ou localisation.")
    elif fmt == "TEXT":
        text = header.get("text") or ""
        if not text.strip():
            problems.append("Un en-tête texte ne peut pas être vide.")
        if len(text) > 60:
            problems.append(f"L'en-tête texte fait {len(text)} caractères : 60 au maximum.")
        _check_positional(text, "En-tête", problems, max_vars=1)
    elif variables(header.get("text")):
        problems.append("Un en-tête média n'a pas de variable.")
    return problems


def body_problems(data: dict[str, Any]) -> list[str]:
    body = data.get("body") or ""
    problems: list[str] = []
    if not body.strip():
        problems.append("Le corps du message est obligatoire.")
    if len(body) > 1024:
        problems.append(f"Le corps fait {len(body)} caractères : 1024 au maximum.")
    _check_positional(body, "Corps", problems)
    stripped = body.strip()
    if stripped.startswith("{{"):
        problems.append("Le corps ne peut pas commencer par une variable.")
    if stripped.endswith("}}"):
        problems.append("Le corps ne peut pas se terminer par une variable.")
    return problems


def footer_problems(data: dict[str, Any]) -> list[str]:
    footer = data.get("footer") or ""
    problems: list[str] = []
    if len(footer) > 60:
        problems.append(f"Le pied de message fait {len(footer)} caractères : 60 au maximum.")
    if variables(footer):
        problems.append("Le pied de message ne peut pas contenir de variable.")
    return problems


def buttons_problems(data: dict[str, Any]) -> list[str]:
    """The buttons together (how many of each kind, quick replies grouped), then each one."""
    buttons = data.get("buttons") or []
    problems: list[str] = []
    if len(buttons) > 10:
        problems.append(f"{len(buttons)} boutons : 10 au maximum.")
    kinds = [b.get("type") for b in buttons]
    if kinds.count("URL") > 2:
        problems.append("Au plus 2 boutons « lien ».")
    if kinds.count("PHONE_NUMBER") > 1:
        problems.append("Au plus 1 bouton « appel ».")
    quick = [i for i, k in enumerate(kinds) if k == "QUICK_REPLY"]
    if quick and quick != list(range(quick[0], quick[0] + len(quick))):
        problems.append("Les boutons de réponse rapide doivent être regroupés, sans bouton lien ou appel entre eux.")
    for number, button in enumerate(buttons, start=1):
        problems += button_problems(number, button)
    return problems


def button_problems(number: int, button: dict[str, Any]) -> list[str]:
    if button.get("type") not in BUTTON_TYPES:
        return [f"Bouton {number} : type attendu réponse rapide, lien ou appel."]
    problems: list[str] = []
    label = button.get("text") or ""
    if not label.strip():
        problems.append(f"Bouton {number} : le libellé est obligatoire.")
    if len(label) > 25:
        problems.append(f"Bouton {number} : le libellé fait {len(label)} caractères, 25 au maximum.")
    if button["type"] == "URL":
        url = button.get("url") or ""
        if not re.match(r"^https?://[^\s]+$", url):
            problems.append(f"Bouton {number} : adresse web invalide (https://…).")
        url_vars = variables(url)
        if url_vars and (url_vars != ["1"] or not url.rstrip().endswith("}}")):
            problems.append(f"Bouton {number} : un lien n'a qu'une variable {{{{1}}}}, à la fin de l'adresse.")
    if button["type"] == "PHONE_NUMBER":
        if not phones.normalize(button.get("phone_number")).ok and not re.match(
                r"^\+\d{6,15}$", str(button.get("phone_number") or "")):
            problems.append(f"Bouton {number} : numéro de téléphone invalide (format international +241…).")
    return problems


PARTS: tuple[tuple[str, Callable[[dict[str, Any]], list[str]]], ...] = (
    ("name", name_problems), ("language", language_problems), ("category", category_problems),
    ("status", status_problems), ("quality", quality_problems), ("header", header_problems),
    ("body", body_problems), ("footer", footer_problems), ("buttons", buttons_problems),
)


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
        label = key_label(key)
        if not spec:
            problems.append(f"{label} : choisissez d'où vient la valeur.")
            continue
        source = spec.get("source")
        if source not in SOURCES:
            problems.append(f"{label} : source attendue champ, attribut ou texte fixe.")
        elif source == "field" and spec.get("field") not in labels.CONTACT_FIELD:
            problems.append(f"{label} : champ du contact inconnu.")
        elif source == "attribute" and not re.match(r"^[a-z0-9_]{1,64}$", str(spec.get("attribute") or "")):
            problems.append(f"{label} : nom d'attribut invalide.")
        elif source == "text" and not str(spec.get("text") or "").strip():
            problems.append(f"{label} : le texte fixe est vide.")
    unknown = set(mapping) - set(variable_keys(data))
    if unknown:
        problems.append(f"Variables inconnues dans la correspondance : {', '.join(sorted(unknown))}.")
    return problems


# Words just before a variable that say what it holds (folded): « Bonjour {{1}} », « Cher assuré {{1}} »
# are a first name.
_FIRST_NAME = re.compile(r"\b(bonjour|bonsoir|cher|chere|salut|madame|monsieur|mme|mr|m\.|prenom)(\s+[a-z]+)?\W*$")
_LAST_NAME = re.compile(r"\b(nom|nom de famille)\W*$")
_FILLERS = {"de", "du", "des", "d", "le", "la", "les", "l", "votre", "vos", "ton", "ta", "est", "sont", "sur", "pour",
            "au", "aux", "en", "a", "et", "un", "une", "son", "sa", "ses", "notre"}
_SAME = {"n": "numero", "no": "numero", "num": "numero", "nr": "numero"}


def _words(text: str) -> list[str]:
    return [_SAME.get(w, w) for w in re.findall(r"[a-z0-9]+", fold(text)) if w not in _FILLERS]


def guess_mapping(data: dict[str, Any], attributes: list[str]) -> dict[str, dict[str, Any]]:
    """A sensible starting mapping for each variable, from the words before it in the body: a first
    name after « Bonjour » or « Cher assuré », a last name after « nom », a contact attribute whose
    every word is among the last words before it (« agence de {{2}} » for `agence`, « dossier n° {{3}} »
    for `numero_dossier`, but not « numéro d'assuré » for `type_assure`). A variable nothing points to,
    or that two attributes fit equally, starts as an empty fixed text, so that the form asks for it
    rather than quietly filling it with a first name (« dossier n° Awa »)."""
    body = str(data.get("body") or "")
    out: dict[str, dict[str, Any]] = {}
    for key in variable_keys(data):
        # The words since the variable before: « agence de {{3}} depuis le {{4}} » says nothing of {{4}}.
        before = body.split("{{" + key + "}}", 1)[0].rsplit("}}", 1)[-1][-60:] if key.isdigit() else ""
        folded = fold(before)
        near = set(_words(before)[-4:])
        fits = [a for a in attributes if (parts := set(_words(a.replace("_", " ")))) and parts <= near]
        best = max((len(set(_words(a.replace("_", " ")))) for a in fits), default=0)
        fits = [a for a in fits if len(set(_words(a.replace("_", " ")))) == best]
        if _FIRST_NAME.search(folded):
            out[key] = {"source": "field", "field": "first_name"}
        elif _LAST_NAME.search(folded):
            out[key] = {"source": "field", "field": "last_name"}
        elif len(fits) == 1:
            out[key] = {"source": "attribute", "attribute": fits[0]}
        else:
            out[key] = {"source": "text", "text": ""}
    return out


def status_problem(status: str | None) -> str | None:
    """Why a template with this status cannot be sent, true to what happened to it; None when it can."""
    if status == TemplateStatus.APPROVED:
        return None
    if status in (None, "", "PENDING"):
        return "n'est pas encore approuvé par WhatsApp (validation en attente)"
    if status == "REJECTED":
        return "a été refusé par WhatsApp"
    if status in ("PAUSED", "DISABLED", "LIMIT_EXCEEDED"):
        return f"n'est plus approuvé (statut WhatsApp : « {labels.TEMPLATE_STATUS[status].lower()} »)"
    return f"n'est pas utilisable (statut « {labels.TEMPLATE_STATUS.get(status, status).lower()} »)"


def key_label(key: str) -> str:
    if key == "header":
        return "Variable de l'en-tête"
    if key.startswith("button_"):
        return f"Variable du bouton {int(key.split('_')[1]) + 1}"
    return f"Variable {{{{{key}}}}}"


# --- the template as data ------------------------------------------------------------------

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
