"""Documents in, sections out: PDF (by page), DOCX, TXT, Markdown (by heading) and HTML, through
langchain-community's loaders and the libraries they need.

PDF and Word files are parsed in a child process with bounded memory, CPU and wall-clock time (and
a Word file's zip is checked first): a crafted file can inflate to gigabytes or loop in a parser,
and it must cost the app's process nothing. Text, Markdown and HTML are read here (uploads are
bounded at 20 MB and these parsers do not inflate)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import resource
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import archives, fmt
from core.errors import UserError

log = logging.getLogger(__name__)
# The product's stack names langchain-community for its loaders; its sunset notice is not ours to act on.
warnings.filterwarnings("ignore", message=".*langchain-community.*", category=DeprecationWarning)
SUPPORTED = {".pdf": "PDF", ".docx": "Word", ".txt": "Texte", ".md": "Markdown", ".markdown": "Markdown",
             ".html": "HTML", ".htm": "HTML"}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
ISOLATED = {".pdf", ".docx", ".html", ".htm"}  # parsed in a child process with the limits below (HTML: nesting)
PARSE_SECONDS = 60  # wall clock, per file
PARSE_MEMORY = 768 * 1024 * 1024  # address space of the child (the interpreter and the PDF/Word libraries take ~500 MB)
MAX_PDF_PAGES = 2000
MAX_TEXT_CHARS = 5_000_000  # text a document may yield (a small PDF can repeat one page's text many times)
ROOT = Path(__file__).resolve().parents[1]


class LoadError(ValueError):
    """A file that cannot be read; the message is in French for the user."""


@dataclass(frozen=True)
class Section:
    text: str
    location: str  # "page 3", a heading, or "" for the whole document


_LEVEL1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)°]|[a-z][.)])\s+")
_SENTENCE_END = re.compile(r"[.!?:;»)]\s*$")


def title_of(path: Path, sections: list[Section]) -> str:
    """The document's own title: a Markdown file's first level-1 heading (even after a preamble,
    and before any sub-heading), an HTML page's `<h1>` (read into the first section's location),
    the first short line of a text, Word or PDF document; else the file name made readable."""
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        try:
            match = _LEVEL1.search(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            match = None
        if match:
            return match.group(1).strip()[:200]
    if suffix in (".html", ".htm"):
        for section in sections:
            if section.location:
                return section.location[:200]
    if suffix in (".md", ".markdown"):
        for section in sections:
            if section.location and not section.location.startswith("page "):
                return section.location[:200]
    if sections and suffix in (".txt", ".docx", ".pdf"):
        for line in sections[0].text.splitlines():
            line = " ".join(line.split())
            if line:
                if len(line) <= 120 and not line.endswith((".", ":")) and not _LIST_ITEM.match(line):
                    return line
                break
    return path.stem.replace("_", " ").replace("-", " ").strip().capitalize()


def join_wrapped(text: str) -> str:
    """Lines that continue the one before joined to it: a list item's indented continuation
    (`- la part salariale : 2,5 %,` / `  dans la limite du plafond`), and a line cut in the middle
    of a sentence (PDF and text files wrap at a width). An item or a sentence then reads whole."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if out and stripped and out[-1].strip():
            previous = out[-1]
            indented = line[:1] in (" ", "\t") and not _LIST_ITEM.match(line) and not stripped.startswith(("#", "|"))
            cut = (not _SENTENCE_END.search(previous) and stripped[0].islower() and not _LIST_ITEM.match(previous)
                   and not _LIST_ITEM.match(line) and not previous.lstrip().startswith(("#", "|"))
                   and " | " not in previous and " | " not in line)
            if indented and (_LIST_ITEM.match(previous) or not _SENTENCE_END.search(previous)) or cut:
                out[-1] = f"{previous} {stripped}"
                continue
        out.append(line)
    return "\n".join(out)


# Class or id words that mark a page's chrome (whole words: `card-header` or `menu-du-jour` stay).
_CHROME = re.compile(r"(site|page|main|global|top|bottom)?[-_]?(header|footer|nav|navbar|navigation|menu|"
                     r"breadcrumbs?|fil[-_]ariane|sidebar|cookies?([-_](banner|notice|consent|bar))?|"
                     r"social([-_]links)?|share|partage|newsletter|skip[-_]link|bandeau[-_]cookies?)", re.I)


_BEFORE_STOP = re.compile(r"\s+([.,)…])")


def _is_chrome(tag: Any) -> bool:
    """A menu, banner, sidebar, header or footer of the page, never what holds its content."""
    if tag.find(["main", "article", "h1"]) is not None or tag.name in ("main", "article", "body", "html"):
        return False
    if tag.name in ("header", "footer", "aside") and tag.find_parent(["main", "article"]) is None:
        return True  # the page's; an article's own header, footer or « À savoir » box is content
    if tag.name == "nav":
        return True
    words = [str(tag.get("id") or ""), *(str(c) for c in tag.get("class") or []), str(tag.get("role") or "")]
    return any(_CHROME.fullmatch(w) for w in words if w) or str(tag.get("role") or "") in ("navigation", "banner",
                                                                                          "contentinfo")


def _html(text: str) -> list[Section]:
    """A saved web page's content without its chrome (header, menus, breadcrumbs, cookie banner,
    sidebars, footer, scripts), cut into sections at its h1-h3 headings, list items one per line.
    The first section's location is the page's `<h1>` (its title)."""
    # Here, not at the top: the HTML parser only where a page is read.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "form", "iframe", "svg", "button", "select"]):
        tag.decompose()
    for tag in list(soup.find_all(True)):
        if not tag.decomposed and _is_chrome(tag):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    sections: list[Section] = []
    heading, lines = "", list[str]()
    title = soup.find("h1")
    blocks = ["h1", "h2", "h3", "h4", "p", "li", "tr", "dt", "dd", "pre", "blockquote"]
    for element in root.find_all([*blocks, "div", "section"]):
        if element.find_parent(["li", "tr", "p", "blockquote", "pre"]) is not None:
            continue  # read with its parent (a nested list item with its item)
        if element.name in ("div", "section") and element.find([*blocks, "div", "section", "ul", "ol", "table"]):
            continue  # a container: its blocks are read one by one (a div of bare text is a paragraph)
        if element.name == "tr":
            words = " | ".join(" ".join(c.get_text(" ", strip=True).split()) for c in element.find_all(["td", "th"]))
        else:
            # Words of inline tags are joined with a space (`<b>nu</b>.` would read `nu .`: put back).
            words = _BEFORE_STOP.sub(r"\1", " ".join(element.get_text(" ", strip=True).split()))
        if not words.strip(" |"):
            continue
        if element.name in ("h1", "h2", "h3"):
            if lines:
                sections.append(Section("\n".join(lines), heading))
            heading, lines = words, []
        elif element.name == "li":
            lines.append(f"- {words}")
        else:
            lines.append(words)
    if lines:
        sections.append(Section("\n".join(lines), heading))
    if title is not None and sections and not sections[0].location:
        sections[0] = Section(sections[0].text, " ".join(title.get_text(" ", strip=True).split()))
    return sections


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


def load(path: Path, name: str | None = None) -> list[Section]:
    """The sections of a document. Raises LoadError (in French, naming the file `name`, by default
    its own) for an unsupported, unreadable, empty or dangerous file; PDF and Word files are parsed
    in a bounded child process."""
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(f"Format non pris en charge ({path.suffix or 'sans extension'}) : "
                        "PDF, Word (.docx), texte, Markdown ou HTML.")
    if suffix == ".docx":
        try:
            archives.check_zip(path, archives.DOCUMENT, label=f"Le fichier {name}")
        except UserError as err:
            raise LoadError(str(err)) from err
    sections = _parse_elsewhere(path, name) if suffix in ISOLATED else parse(path, name)
    sections = [s for s in sections if s.text.strip()]
    if not sections:
        raise LoadError(f"Le fichier {name} ne contient pas de texte (document scanné ?).")
    return sections


def parse(path: Path, name: str | None = None, *, max_pages: int | None = None,
          max_chars: int | None = None) -> list[Section]:
    """Parse in this process, without the limits: `load` is the entry point for files from users."""
    name = name or path.name
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            # Here, not at the top: the document parsers only where a document is parsed (the bounded child process).
            from langchain_community.document_loaders import PyPDFLoader

            # Here, not at the top: the document parsers only where a document is parsed (the bounded child process).
            from pypdf import PdfReader

            count, limit = len(PdfReader(str(path)).pages), max_pages or MAX_PDF_PAGES
            if count > limit:
                raise LoadError(f"Le fichier {name} compte {count} pages : au-delà de {limit}, "
                                "découpez-le en plusieurs documents.")
            pages = PyPDFLoader(str(path), mode="page").load()
            sections = [Section(p.page_content, f"page {int(p.metadata.get('page', n)) + 1}")
                        for n, p in enumerate(pages)]
        elif suffix == ".docx":
            # Here, not at the top: the document parsers only where a document is parsed (the bounded child process).
            from langchain_community.document_loaders import Docx2txtLoader

            sections = [Section(d.page_content, "") for d in Docx2txtLoader(str(path)).load()]
        elif suffix in (".html", ".htm"):
            # Here, not at the top: the document parsers only where a document is parsed (the bounded child process).
            from langchain_community.document_loaders import TextLoader

            sections = _html(TextLoader(str(path), autodetect_encoding=True).load()[0].page_content)
        else:
            # Here, not at the top: the document parsers only where a document is parsed (the bounded child process).
            from langchain_community.document_loaders import TextLoader

            text = TextLoader(str(path), autodetect_encoding=True).load()[0].page_content
            sections = _markdown(text) if suffix in (".md", ".markdown") else [Section(text, "")]
        sections = [Section(join_wrapped(s.text), s.location) for s in sections]
    except (LoadError, MemoryError, ImportError):
        raise  # ours, or the process's (out of memory, a library that cannot load): not the file's fault
    except Exception as err:  # noqa: BLE001 - every library fails its own way
        log.warning("Could not read %s: %s: %s", name, type(err).__name__, err)
        raise LoadError(f"Le fichier {name} n'a pas pu être lu : il est peut-être abîmé, protégé par un mot de passe, "
                        "ou d'un autre format que ce que dit son extension.") from err
    max_chars = max_chars or MAX_TEXT_CHARS
    if sum(len(s.text) for s in sections) > max_chars:
        log.warning("Refused %s: more than %s characters of text", name, max_chars)
        shown = fmt.number(max_chars)
        raise LoadError(f"Le fichier {name} contient plus de {shown} caractères de texte : découpez-le en "
                        "plusieurs documents.")
    return sections


def _parse_elsewhere(path: Path, name: str) -> list[Section]:
    """`parse` in a child process (`python -m rag.loaders FILE`) bounded in memory, CPU and time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        command = [sys.executable, "-m", "rag.loaders", str(path), name, str(MAX_PDF_PAGES), str(MAX_TEXT_CHARS),
                   str(PARSE_MEMORY), str(math.ceil(PARSE_SECONDS))]
        done = subprocess.run(command, capture_output=True, timeout=PARSE_SECONDS, env=env, cwd=ROOT, check=False)
    except subprocess.TimeoutExpired as err:
        log.warning("Parsing %s took over %s s: stopped", name, PARSE_SECONDS)
        raise LoadError(f"Le fichier {name} a pris plus de {PARSE_SECONDS} secondes à lire : il est refusé. "
                        "Enregistrez-le de nouveau (PDF ou Word) ou découpez-le.") from err
    try:
        answer = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        tail = done.stderr.decode("utf-8", "replace")[-2000:]
        cause = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        log.warning("Parsing %s failed in its child process (%s): %s", name, cause, tail)
        raise LoadError(f"Le fichier {name} n'a pas pu être lu : sa lecture demandait trop de mémoire ou de "
                        "temps. Enregistrez-le de nouveau (PDF ou Word) ou découpez-le.")
    if "error" in answer:
        raise LoadError(str(answer["error"]))
    return [Section(str(text), str(location)) for text, location in answer["sections"]]


def _child(argv: list[str]) -> int:
    """The child's side: limit itself (memory, CPU, no core file; set here rather than between fork
    and exec, which is unsafe in a threaded parent like Streamlit's), parse one file before loading
    any parser, and answer JSON on stdout (sections, or a French error)."""
    path, name, max_pages, max_chars, memory, cpu = argv
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)
    try:
        sections = parse(Path(path), name, max_pages=int(max_pages), max_chars=int(max_chars))
        answer: dict[str, object] = {"sections": [[s.text, s.location] for s in sections]}
    except LoadError as err:
        answer = {"error": str(err)}
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
