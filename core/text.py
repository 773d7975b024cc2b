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


def one_line(text: str | None) -> str:
    """A name as typed, made comparable: composed (NFC), without control and invisible format
    characters (zero-width spaces and joiners, bidirectional marks, soft hyphens), blanks collapsed.
    `"Rappel\u200b  mars"` -> `"Rappel mars"`; a name of invisible characters only -> `""`."""
    composed = unicodedata.normalize("NFC", text or "")
    visible = "".join(" " if c in "\t\n\r\x0b\x0c" else c for c in composed
                      if c in "\t\n\r\x0b\x0c" or unicodedata.category(c) not in ("Cc", "Cf"))
    return " ".join(visible.split())


# What starts Markdown (and Streamlit's extensions) inside a line: emphasis, code, links and images
# (brackets), raw HTML and autolinks (angle brackets), LaTeX ($), strikethrough, tables, entities.
# Dots, commas and parentheses start nothing and stay as they are.
_INLINE = re.compile(r"([\\`*_\[\]<>$~|&])")
# A colon glued to a word starts Streamlit's `:material/…:` icons, `:red[…]` colours and emoji
# shortcodes, escaped or not (Chromium showed the icon for `\:material/warning\:`): a word joiner
# after it keeps it text. A colon before a space (French punctuation) or in a time (10:30) stays as it is.
_COLON = re.compile(r":(?=[^\s\d\u2060]|\d+:)")
# What starts Markdown at the beginning of a line: headings, quotes, lists, setext underlines.
_LINE_START = re.compile(r"^(?:([#>+=\-])|(\d+)([.)]))")
# Control characters, and the bidirectional overrides, embeddings and isolates (U+202A–U+202E,
# U+2066–U+2069) with which a name can show its letters in another order than they are stored.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# The renderer turns bare addresses into links (`https://…`, `www.…`, `nom@domaine`), escaped or
# not: an invisible word joiner (U+2060) in each keeps them text.
_LINKISH = re.compile(r"(://|(?<![\w])www(?=\.)|@)", re.IGNORECASE)
# The renderer draws `->`, `<-` and `--` as arrows and a dash: a word joiner between keeps what was typed.
_TYPOGRAPHIC = re.compile(r"(?<=-)(?=[->])|(?<=<)(?=-)")


def as_text(value: object) -> str:
    """Untrusted text (a WhatsApp message, a name, a document title, an error quoting either) for a
    Streamlit element that renders Markdown: shown as written, line breaks kept, nothing rendered,
    nothing loaded. Only what could start Markdown is escaped, so plain French reads the same."""
    text = _CONTROL.sub("", ("" if value is None else str(value)).replace("\r\n", "\n").replace("\r", "\n"))
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" \t")  # leading blanks would make a code block: kept as no-break spaces
        indent = "\u00a0" * (len(line) - len(body))
        body = _LINKISH.sub(lambda m: "\u2060" + m.group(1) + "\u2060", body)
        body = _TYPOGRAPHIC.sub("\u2060", body)
        body = _COLON.sub(":\u2060", _INLINE.sub(lambda m: "\\" + m.group(1), body))
        body = _LINE_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), body)
        lines.append(indent + body)
    return "  \n".join(lines)
