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


# Every ASCII punctuation character CommonMark lets a backslash escape: escaped, none of them starts
# emphasis, a link, an image, a heading, a list, a table, raw HTML, a LaTeX formula ($) or a bare
# URL (the `:` of `https://` and the `.` of `www.`), so the text is shown exactly as it was written.
_MARKDOWN_SPECIAL = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# The renderer still turns bare addresses into links (`https://…`, `www.…`, `nom@domaine`), escaped or
# not: an invisible word joiner (U+2060) in each keeps them text.
_LINKISH = re.compile(r"(://|(?<![\w])www(?=\.)|@)", re.IGNORECASE)


def as_text(value: object) -> str:
    """Untrusted text (a WhatsApp message, a name, a document title) for a Streamlit element that
    renders Markdown: shown as written, line breaks kept, nothing rendered, nothing loaded."""
    text = _CONTROL.sub("", ("" if value is None else str(value)).replace("\r\n", "\n").replace("\r", "\n"))
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" \t")  # leading blanks would make a code block: kept as no-break spaces
        indent = "\u00a0" * (len(line) - len(body))
        body = _LINKISH.sub(lambda m: "\u2060" + m.group(1) + "\u2060", body)
        lines.append(indent + _MARKDOWN_SPECIAL.sub(r"\\\1", body))
    return "  \n".join(lines)
