"""Word bombs refused before parsing, PDF and Word files parsed in a child process bounded in memory,
CPU and time: a crafted document costs the app's process nothing, the user reads why in French."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from core.errors import UserError
from core.models import KnowledgeDocument
from rag import kb, loaders
from tests.core.test_archives import MiB, inflate_into
from tests.rag import files


@pytest.fixture
def knowledge(db_url, memory_store):  # noqa: ANN001, ANN201
    from rag import store

    store._default = None
    kb._state.update({"index": None, "signature": None, "checked": 0.0})
    yield
    store._default = None


def test_a_word_bomb_is_refused_and_nothing_is_kept(session, knowledge, tmp_path) -> None:  # noqa: ANN001
    """A .docx whose document part inflates to 300 MB (846 MB in the review): refused before parsing."""
    path = files.docx(tmp_path / "note.docx", ["Déclaration sous 48 heures."])
    inflate_into(path, "word/media/image1.bin", 300)
    with pytest.raises(UserError, match="Le fichier note.docx est refusé"):
        kb.ingest(session, "note.docx", path.read_bytes())
    session.rollback()
    assert session.scalar(select(KnowledgeDocument)) is None
    assert not list(kb.files_dir().iterdir())


def test_pdf_and_word_are_parsed_in_a_bounded_child_process(tmp_path, monkeypatch, caplog) -> None:  # noqa: ANN001
    """The child's limits are real: with too little memory it dies and the user reads why in French;
    past the time limit it is stopped; past the page limit the PDF is refused."""
    pdf = files.pdf(tmp_path / "guide.pdf", ["Allocations prénatales : 6 000 FCFA."])
    assert [s.location for s in loaders.load(pdf)] == ["page 1"]
    caplog.set_level(logging.WARNING, logger="rag.loaders")
    monkeypatch.setattr(loaders, "PARSE_MEMORY", 64 * MiB)  # not even enough to start the interpreter's imports
    with pytest.raises(loaders.LoadError, match="trop de mémoire ou de temps"):
        loaders.load(pdf)
    assert "failed in its child process" in caplog.text
    monkeypatch.setattr(loaders, "PARSE_MEMORY", 768 * MiB)
    monkeypatch.setattr(loaders, "PARSE_SECONDS", 0.2)  # less than the child needs to import its libraries
    with pytest.raises(loaders.LoadError, match="plus de 0.2 secondes"):
        loaders.load(pdf)
    monkeypatch.setattr(loaders, "PARSE_SECONDS", 60)
    monkeypatch.setattr(loaders, "MAX_PDF_PAGES", 2)
    with pytest.raises(loaders.LoadError, match="compte 3 pages"):
        loaders.load(files.pdf(tmp_path / "long.pdf", ["a", "b", "c"]))


def test_a_document_yielding_too_much_text_is_refused_in_the_child(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A small PDF can repeat one page's text many times: the child refuses past MAX_TEXT_CHARS,
    so that much text never reaches the app's process."""
    pdf = files.pdf(tmp_path / "long.pdf", ["Allocations familiales : 4 000 FCFA par enfant."] * 3)
    monkeypatch.setattr(loaders, "MAX_TEXT_CHARS", 100)
    with pytest.raises(loaders.LoadError, match="contient plus de 100 caractères de texte"):
        loaders.load(pdf)
    monkeypatch.setattr(loaders, "MAX_TEXT_CHARS", 1000)
    assert len(loaders.load(pdf)) == 3


def test_a_refused_update_keeps_the_document_as_it_was(session, knowledge, tmp_path) -> None:  # noqa: ANN001
    """A broken file uploaded under a document's name is refused; the stored document (its file
    included) is untouched and can still be re-indexed."""
    good = files.pdf(tmp_path / "guide.pdf", ["Allocations prénatales : 6 000 FCFA."]).read_bytes()
    first = kb.ingest(session, "guide.pdf", good)
    session.commit()
    with pytest.raises(UserError, match="guide.pdf n'a pas pu être lu"):
        kb.ingest(session, "guide.pdf", b"%PDF-1.4 rien")
    session.rollback()
    document = kb.get(session, first.document_id)
    assert kb._stored_path(document).read_bytes() == good
    assert kb.reindex(session, document) == first.chunks
    assert [p.name for p in kb.files_dir().iterdir()] == [kb._stored_path(document).name]  # nothing left beside
