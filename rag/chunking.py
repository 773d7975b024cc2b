"""French-aware chunking: paragraphs, then sentences, then words, never longer than the embedding
model reads (about 800 characters for the default model; longer text would be cut silently)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.loaders import Section

_SPACES = re.compile(r"[ \t\u00a0]+")
SEPARATORS = ["\n\n", "\n", ". ", " ; ", "; ", " : ", ", ", " ", ""]


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    location: str


def chunk(sections: list[Section], *, size: int, overlap: int) -> list[Chunk]:
    """Chunks of at most `size` characters; each keeps the section (page or heading) it came from,
    and a heading is repeated at the head of its chunks so that they read on their own."""
    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=min(overlap, size // 4),
                                              separators=SEPARATORS, keep_separator="end", strip_whitespace=True)
    out: list[Chunk] = []
    for section in sections:
        heading = section.location if section.location and not section.location.startswith("page ") else ""
        prefix = f"{heading}\n" if heading else ""
        for piece in splitter.split_text(_SPACES.sub(" ", section.text).strip()):
            text = (prefix + piece) if len(prefix) + len(piece) <= size else piece
            out.append(Chunk(len(out), text.strip(), section.location))
    return out
