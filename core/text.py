"""Text folding shared by search, opt-out words and column names."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents: `Lambaréné` -> `lambarene`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def slug(text: str) -> str:
    """A safe identifier from a label: `Type d'assuré` -> `type_d_assure`."""
    return _NON_ALNUM.sub("_", fold(text)).strip("_")
