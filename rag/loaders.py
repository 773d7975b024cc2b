"""Documents in, sections out: PDF (by page), DOCX, TXT, Markdown (by heading) and HTML, through
langchain-community's loaders and the libraries they need."""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
# The product's stack names langchain-community for its loaders; its sunset notice is not ours to act on.
warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
SUPPORTED = {".pdf": "PDF", ".docx": "Word", ".txt": "Texte", ".md": "Markdown", ".markdown": "Markdown",
             ".html": "HTML", ".htm": "HTML"}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


class LoadError(ValueError):
    """A file that cannot be read; the message is in French for the user."""


@dataclass(frozen=True)
class Section:
    text: str
    location: str  # "page 3", a heading, or "" for the whole document


def title_of(path: Path, sections: list[Section]) -> str:
    """The first Markdown heading, or the file name made readable."""
    for section in sections:
        if section.location and not section.location.startswith("page "):
            return section.location
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def _markdown(text: str) -> list[Section]:
    sections: list[Section] = []
    matches = list(_HEADING.finditer(text))
    if not matches:
        return [Section(text, "")]
    if text[:matches[0].start()].strip():
        sections.append(Section(text[:matches[0].start()], ""))
    for n, match in enumerate(matches):
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        body = text[match.end():end].strip()
        if body:
            sections.append(Section(body, match.group(2).strip()))
        elif n == 0:
            continue
    return sections or [Section(text, "")]


def load(path: Path) -> list[Section]:
    """The sections of a document. Raises LoadError for an unsupported or unreadable file."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"Format non pris en charge ({path.suffix or 'sans extension'}) : "
                        "PDF, Word (.docx), texte, Markdown ou HTML.")
    try:
        if suffix == ".pdf":
            from langchain_community.document_loaders import PyPDFLoader

            pages = PyPDFLoader(str(path), mode="page").load()
            sections = [Section(p.page_content, f"page {int(p.metadata.get('page', n)) + 1}")
                        for n, p in enumerate(pages)]
        elif suffix == ".docx":
            from langchain_community.document_loaders import Docx2txtLoader

            sections = [Section(d.page_content, "") for d in Docx2txtLoader(str(path)).load()]
        elif suffix in (".html", ".htm"):
            from langchain_community.document_loaders import BSHTMLLoader

            docs = BSHTMLLoader(str(path), open_encoding="utf-8", bs_kwargs={"features": "html.parser"},
                                get_text_separator="\n").load()
            sections = [Section(d.page_content, str(d.metadata.get("title") or "")) for d in docs]
        else:
            from langchain_community.document_loaders import TextLoader

            text = TextLoader(str(path), autodetect_encoding=True).load()[0].page_content
            sections = _markdown(text) if suffix in (".md", ".markdown") else [Section(text, "")]
    except LoadError:
        raise
    except Exception as err:  # noqa: BLE001 - every library fails its own way
        log.warning("Could not read %s: %s: %s", path.name, type(err).__name__, err)
        raise LoadError(f"Le fichier {path.name} n'a pas pu être lu ({type(err).__name__}).") from err
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise LoadError(f"Le fichier {path.name} ne contient pas de texte (document scanné ?).")
    return sections
