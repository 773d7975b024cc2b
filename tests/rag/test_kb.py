"""The knowledge base over the database (SQLite and PostgreSQL): ingest, unchanged re-index,
update, disable / enable, delete, refusals in French, and the chatbot reading from it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.errors import UserError
from core.models import AuditLog, KnowledgeDocument
from rag import kb


@pytest.fixture
def knowledge(db_url, memory_store):  # noqa: ANN001, ANN201
    from rag import store

    store._default = None  # a fresh in-memory store for this test
    kb._state.update({"index": None, "signature": None, "checked": 0.0})
    yield
    store._default = None


DOC = b"# Prime de naissance\n\nLa CNSS verse une prime de naissance de 8 000 FCFA.\n"
# BM25 weighs words by their rarity across documents: a base of one document says little.
OTHERS = {"retraite.md": "# Retraite\n\nLa pension de vieillesse demande 20 ans de cotisations.\n",
          "accident.md": "# Accident du travail\n\nL'employeur le déclare sous 48 heures.\n"}


def test_ingest_then_the_same_content_changes_nothing(session, knowledge) -> None:  # noqa: ANN001
    first = kb.ingest(session, "naissance.md", DOC)
    assert first.status == "created" and first.chunks == 1
    again = kb.ingest(session, "naissance.md", DOC)
    assert again.status == "unchanged" and again.document_id == first.document_id
    document = kb.get(session, first.document_id)
    assert document.title == "Prime de naissance" and document.chunk_count == 1 and document.indexed_at
    assert kb.chunks(document)[0].text.startswith("Prime de naissance")
    changed = kb.ingest(session, "naissance.md", DOC + b"\nElle se demande avec l'acte de naissance.\n")
    assert changed.status == "updated" and kb.current_index(session).store.count() == 1
    assert session.scalar(select(AuditLog).where(AuditLog.action == "kb_document_indexed")) is not None


def test_disable_enable_and_delete(session, knowledge) -> None:  # noqa: ANN001
    for name, text in OTHERS.items():
        kb.ingest(session, name, text.encode())
    result = kb.ingest(session, "naissance.md", DOC)
    document = kb.get(session, result.document_id)
    assert not kb.ask("Combien vaut la prime de naissance ?").refused
    kb.set_enabled(session, document, False)
    assert document.chunk_count == 0 and kb.current_index(session).store.count({"document": str(document.id)}) == 0
    assert kb.ask("Combien vaut la prime de naissance ?").refused
    kb.set_enabled(session, document, True)
    assert document.chunk_count == 1 and not kb.ask("Combien vaut la prime de naissance ?").refused
    kb.delete(session, document)
    assert session.get(KnowledgeDocument, result.document_id) is None
    assert kb.current_index(session).store.count() == 2


def test_documents_the_store_lacks_are_indexed_again_at_start(session, knowledge) -> None:  # noqa: ANN001
    """A changed embedding model opens an empty collection (one per model): the start fills it."""
    for name, text in OTHERS.items():
        kb.ingest(session, name, text.encode())
    result = kb.ingest(session, "naissance.md", DOC)
    store = kb.current_index(session).store
    store.delete_document(str(result.document_id))  # as if indexed for another model
    assert kb.reindex_missing(session) == 1 and kb.reindex_missing(session) == 0
    assert store.count({"document": str(result.document_id)}) == 1
    assert not kb.ask("Combien vaut la prime de naissance ?").refused
    # A stored file that no longer reads does not keep the others from being indexed again.
    broken = session.scalar(select(KnowledgeDocument).where(KnowledgeDocument.filename == "retraite.md"))
    kb._stored_path(broken).unlink()
    for document in session.scalars(select(KnowledgeDocument)):
        store.delete_document(str(document.id))
    assert kb.reindex_missing(session) == 2


def test_only_managers_and_administrators_start_an_evaluation(session, knowledge) -> None:  # noqa: ANN001
    from core.models import Role, User

    agent = User(email="a@cnss.ga", name="Agent", role=Role.AGENT, password_hash="x", is_active=True)
    session.add(agent)
    session.flush()
    with pytest.raises(UserError, match="Seuls les responsables"):
        kb.start_evaluation(session, actor=agent)


@pytest.mark.parametrize("name, data, message", [
    ("virus.exe", b"MZ", "format non pris en charge"),
    ("vide.md", b"", "est vide"),
    ("casse.pdf", b"%PDF-1.4 rien", "n'a pas pu être lu"),
])
def test_bad_files_are_refused_and_nothing_is_kept(session, knowledge, name, data, message) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=message):
        kb.ingest(session, name, data)
    session.rollback()
    assert session.scalar(select(KnowledgeDocument)) is None
    assert not list(kb.files_dir().iterdir())


def test_the_demo_knowledge_base(session, knowledge) -> None:  # noqa: ANN001
    assert kb.seed_demo(session) == 6
    assert kb.seed_demo(session) == 0
    result = kb.ask("Quel est le plafond mensuel des cotisations ?")
    assert not result.refused and "1 500 000 FCFA" in result.text
