"""A template filled for one person: the parameters, the components Respond.io sends, the text
the person reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.models import Contact, Template
from core.templates.rules import VAR_RE, as_dict, variable_keys


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
