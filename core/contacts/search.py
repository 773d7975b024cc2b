"""Search text: what a person may type to find a contact, folded once when the contact is written."""

from __future__ import annotations

from typing import Any

from core.text import fold


def search_text_for(first_name: str | None, last_name: str | None, phone: str, attributes: dict[str, Any]) -> str:
    digits = phone.lstrip("+")
    national = "0" + digits[3:] if phone.startswith("+241") else ""
    parts = [first_name or "", last_name or "", digits, national, *(str(v) for v in attributes.values())]
    return " ".join(fold(p) for p in parts if p)
