"""Retrieval, fusion, refusal, the extractive path, the LLM path against a local OpenAI-compatible
server (answers, NON_TROUVE, errors, timeouts), follow-up questions, and the evaluation command."""

from __future__ import annotations

import json

import pytest

from rag import answer as answering
from rag import refusal
from rag.index import Index, documents_ranked
from rag.store import MemoryStore


def test_hybrid_retrieval_finds_the_right_document(corpus_index) -> None:  # noqa: ANN001
    retrieval = corpus_index.search("Combien vaut la prime de naissance ?")
    assert documents_ranked(retrieval)[0] == "prestations_familiales.md"
    top = retrieval.passages[0]
    assert "8 000 FCFA" in top.text and top.dense > 0 and top.bm25 > 0
    assert retrieval.passages == sorted(retrieval.passages, key=lambda p: -p.fused)


def test_fusion_keeps_what_only_keywords_find(tmp_path, memory_store) -> None:  # noqa: ANN001
    (tmp_path / "a.md").write_text("# DTS\n\nLa DTS se dépose chaque trimestre sur e.cnss.ga.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Retraite\n\nLa pension de vieillesse demande 20 ans.\n", encoding="utf-8")
    index = Index(MemoryStore())
    index.add_document("a", tmp_path / "a.md")
    index.add_document("b", tmp_path / "b.md")
    retrieval = index.search("DTS")
    assert retrieval.passages[0].document == "a" and retrieval.passages[0].bm25 > 0


def test_confidence_is_bounded_and_grows_with_evidence() -> None:
    base = {"terms": 3.0, "dense_top": 0.87, "sentence_top": 0.86, "elsewhere": 0.0}
    assert refusal.confidence({**base, "terms": 0.0}) == 0.0  # nothing to look for
    weak = refusal.confidence({**base, "dense_top": 0.82, "sentence_top": 0.81})
    strong = refusal.confidence({**base, "dense_top": 0.9, "sentence_top": 0.9})
    assert 0 <= weak < refusal.confidence(base) < strong <= 1
    assert refusal.confidence({**base, "elsewhere": 1.0}) < refusal.confidence(base)  # another body's topic


def test_whatsapp_french_is_read_as_written_french(corpus_index) -> None:  # noqa: ANN001
    from rag.text import normalize_query

    assert normalize_query("bjr cmt je fais pr toucher l'alloc prenatal stp") == \
        "comment je fais pour toucher l'allocation prenatal"
    typed = corpus_index.search("cmt toucher l alocation prenatale svp")  # a letter missing, no accent
    assert documents_ranked(typed)[0] == "prestations_familiales.md"
    assert typed.details["coverage_idf_top3"] > 0.5


def test_a_health_insurance_question_is_sent_to_the_cnamgs(corpus_index, tmp_path) -> None:  # noqa: ANN001
    result = answering.answer("cmt me faire rembourser mes médicaments à la pharmacie", index=corpus_index)
    assert result.refused and "CNAMGS" in result.text and "1432" in result.text
    # A base that never names the CNAMGS does not send people there.
    (tmp_path / "a.md").write_text("# Retraite\n\nLa pension de vieillesse demande 20 ans.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Naissance\n\nLa prime de naissance vaut 8 000 FCFA.\n", encoding="utf-8")
    bare = Index(MemoryStore())
    bare.add_document("a", tmp_path / "a.md")
    bare.add_document("b", tmp_path / "b.md")
    plain = answering.answer("cmt me faire rembourser mes médicaments à la pharmacie", index=bare)
    assert plain.refused and plain.text == answering.REFUSAL


DISCLAIMER = ("Ce document est fourni à titre d'information et ne remplace pas les textes en vigueur, "
              "qui seuls font foi en cas de litige devant les juridictions compétentes.")
FOOTER = "Rédigé par la Direction des prestations sociales pour les agences de Libreville et de l'intérieur du pays."


def test_boilerplate_is_never_a_source_and_list_items_are_quoted_whole(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "taux.md").write_text(
        "# Les cotisations\n\n## Les taux\n\n- la part salariale : 2,5 % du salaire brut,\n"
        "  dans la limite du plafond mensuel de 1 500 000 FCFA ;\n- la part patronale : 16 %.\n\n"
        f"## Avertissement\n\n{DISCLAIMER}\n\n## Rédaction\n\n{FOOTER}\n", encoding="utf-8")
    (tmp_path / "pension.md").write_text(
        "# La pension\n\nLa pension de vieillesse est due à 55 ans après 240 mois de cotisations.\n\n"
        f"## Rédaction\n\n{FOOTER}\n", encoding="utf-8")
    (tmp_path / "naissance.md").write_text(
        "# La naissance\n\nLa prime de naissance vaut 8 000 FCFA par enfant.\n\n"
        f"## Rédaction\n\n{FOOTER}\n", encoding="utf-8")
    (tmp_path / "accident.md").write_text(
        "# L'accident\n\nL'employeur déclare l'accident du travail sous 48 heures.\n\n"
        f"## Rédaction\n\n{FOOTER}\n", encoding="utf-8")
    index = Index(MemoryStore())
    for name in ("taux.md", "pension.md", "naissance.md", "accident.md"):  # the footer is in all four
        index.add_document(name, tmp_path / name)
    result = answering.answer("quelle est la part salariale des cotisations", index=index)
    assert not result.refused
    assert "2,5 % du salaire brut, dans la limite du plafond mensuel de 1 500 000 FCFA" in result.text
    assert "font foi" not in result.text and "Direction des prestations" not in result.text
    assert "« Les cotisations », Les taux" in result.text  # title and section cited
    for question in ("les textes en vigueur font foi en cas de litige devant les juridictions",  # says what it is worth
                     "qui a rédigé ce document pour les agences de Libreville et de l'intérieur"):  # in every document
        assert all("font foi" not in p.text and FOOTER not in p.text for p in index.search(question).passages)


def test_a_rule_three_documents_restate_is_not_boilerplate(tmp_path) -> None:  # noqa: ANN001
    rule = "La pension de vieillesse est due à 55 ans après 240 mois de cotisations à la caisse."
    (tmp_path / "a.md").write_text(f"# Guide\n\n{rule}\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(f"# Foire aux questions\n\n{rule}\n", encoding="utf-8")
    (tmp_path / "c.md").write_text(f"# Retraite\n\n{rule}\n", encoding="utf-8")
    (tmp_path / "d.md").write_text("# Naissance\n\nLa prime de naissance vaut 8 000 FCFA.\n", encoding="utf-8")
    (tmp_path / "e.md").write_text("# Accident\n\nL'employeur déclare l'accident sous 48 heures.\n", encoding="utf-8")
    index = Index(MemoryStore())
    for name in ("a.md", "b.md", "c.md", "d.md", "e.md"):
        index.add_document(name, tmp_path / name)
    assert index.search("à quel âge la pension de vieillesse").passages[0].text.endswith(rule)


def test_in_scope_question_gets_an_extractive_answer_with_sources(corpus_index) -> None:  # noqa: ANN001
    result = answering.answer("Quel est le montant de la layette ?", index=corpus_index)
    assert not result.refused and result.extractive
    assert result.text.startswith(answering.EXTRACTIVE_HEADER) and "45 000 FCFA" in result.text
    assert result.sources and result.sources[0]["source"] == "prestations_familiales.md"
    assert result.scores["confidence"] >= 0.5 and result.latency_ms >= 0


@pytest.mark.parametrize("question", ["Quelle est la capitale du Japon ?", "Peux-tu m'écrire un poème ?", "", "   "])
def test_out_of_scope_is_refused_with_the_call_centre(corpus_index, question) -> None:  # noqa: ANN001
    result = answering.answer(question, index=corpus_index)
    assert result.refused and result.sources == [] and "1432" in result.text


def test_a_short_follow_up_borrows_the_previous_question(corpus_index) -> None:  # noqa: ANN001
    history = [{"role": "user", "content": "Quelles sont les conditions pour une pension d'invalidité ?"},
               {"role": "assistant", "content": "..."}]
    result = answering.answer("et l'âge ?", history, index=corpus_index)
    assert "invalidité" in result.question_used and not result.refused
    assert result.sources[0]["source"] == "pensions.md"


def test_llm_answer_cites_its_passages(corpus_index, fake_llm) -> None:  # noqa: ANN001
    fake_llm.script.append(("reply", "La prime de naissance est de 8 000 FCFA [1]."))
    result = answering.answer("Combien vaut la prime de naissance ?", index=corpus_index)
    assert not result.refused and not result.extractive and result.text.endswith("[1].")
    assert [s["n"] for s in result.sources] == [1]  # only what the answer cites
    request = fake_llm.requests[-1]
    assert request["messages"][0]["role"] == "system" and "UNIQUEMENT" in request["messages"][0]["content"]
    assert "[1]" in request["messages"][1]["content"] and "8 000 FCFA" in request["messages"][1]["content"]


@pytest.mark.parametrize("reply", [
    "La prime de naissance est de 50 000 FCFA [1].",  # a figure the passages do not give
    "La prime de naissance est de 8 000 FCFA.",  # no citation
    "Le gouvernement a doublé la prime l'année dernière grâce au nouveau budget national voté par les députés [1].",
])
def test_an_llm_answer_its_passages_do_not_support_is_refused(corpus_index, fake_llm, reply, caplog) -> None:  # noqa: ANN001
    fake_llm.script.append(("reply", reply))
    result = answering.answer("Combien vaut la prime de naissance ?", index=corpus_index)
    assert result.refused and result.text == answering.REFUSAL and result.sources == []
    assert "not supported by its passages" in caplog.text


def test_the_support_check_reads_numbers_as_numbers() -> None:
    from rag.index import Passage

    passage = Passage("p", "Le taux est de 2,5 %. Les montants sont de 6 000, 7 500 et 9 000 FCFA par enfant.", "d",
                      "Taux", "", 0, "d.md", 0.9, 1.0, 1.0)
    assert answering.supported("Le montant est de 7 500 FCFA par enfant [1].", [passage])  # one of a list
    assert answering.supported("Le taux est de 2.5 % [1].", [passage])
    assert not answering.supported("Le taux est de 25 % [1].", [passage])  # not 2,5
    # A figure the person wrote in the question is not vouched for by it.
    assert not answering.supported("Oui, le montant est de 50 000 FCFA [1].", [passage],
                                   "Le montant est-il de 50 000 FCFA ?")


def test_a_pasted_document_is_read_by_its_head(corpus_index) -> None:  # noqa: ANN001
    result = answering.answer("prime de naissance " + "x" * 10_000, index=corpus_index)
    assert len(result.question_used) <= answering.MAX_QUESTION_CHARS


def test_care_after_a_work_accident_is_not_sent_to_the_cnamgs() -> None:
    assert refusal.elsewhere("qui paie mes médicaments après un accident du travail ?") is None
    assert refusal.elsewhere("consultation médicale pour maladie professionnelle") is None
    assert refusal.elsewhere("rembourser mes médicaments à la pharmacie") == "CNAMGS"


def test_llm_not_found_is_a_refusal(corpus_index, fake_llm) -> None:  # noqa: ANN001
    fake_llm.script.append(("reply", answering.NOT_FOUND))
    result = answering.answer("Combien vaut la prime de naissance ?", index=corpus_index)
    assert result.refused and "1432" in result.text


@pytest.mark.parametrize("failure", [("error", 500), ("error", 429), ("sleep", 3.0)])
def test_llm_errors_and_timeouts_fall_back_to_the_extractive_answer(corpus_index, fake_llm, failure) -> None:  # noqa: ANN001
    fake_llm.script.append(failure)
    result = answering.answer("Combien vaut la prime de naissance ?", index=corpus_index)
    assert not result.refused and result.extractive and "8 000 FCFA" in result.text


def test_llm_rewrites_a_follow_up_from_the_conversation(corpus_index, fake_llm) -> None:  # noqa: ANN001
    fake_llm.script.extend([("reply", "Quel est le montant de la layette à la naissance ?"),
                            ("reply", "La layette vaut 45 000 FCFA [1].")])
    history = [{"role": "user", "content": "Qu'est-ce que la prime de naissance ?"},
               {"role": "assistant", "content": "8 000 FCFA [1]."}]
    result = answering.answer("et la layette ?", history, index=corpus_index)
    assert result.question_used == "Quel est le montant de la layette à la naissance ?"
    assert "Utilisateur : et la layette ?" in fake_llm.requests[0]["messages"][1]["content"]
    assert result.text == "La layette vaut 45 000 FCFA [1]."


def test_the_evaluation_command_meets_the_targets(capsys) -> None:  # noqa: ANN001
    from rag.__main__ import main
    from rag.evaluation import CORPUS, QUESTIONS

    assert main(["eval", "--corpus", str(CORPUS), "--questions", str(QUESTIONS), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"hit@1", "hit@3", "mrr", "refusal_precision", "refusal_recall", "n"}
    assert result["n"] >= 75
    assert result["hit@3"] >= 0.95 and result["mrr"] >= 0.90
    assert result["refusal_recall"] >= 0.9 and result["in_scope_refused"] <= 0.05


def test_the_evaluation_reports_both_splits_and_each_corpus(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from rag import evaluation
    from rag.__main__ import main

    assert evaluation.splits() == {"dev": ["demo", "assures", "independants"], "test": ["employeurs", "pensionnes"]}
    for name in ("assures", "independants", "employeurs", "pensionnes"):  # the held-out corpora exist, in mixed formats
        folder, questions = evaluation.corpus_paths(name)
        assert {p.suffix for p in folder.iterdir()} >= {".txt", ".md", ".html", ".pdf", ".docx"}
        cases = evaluation.read_questions(questions)
        assert len(cases) >= 100 and sum(1 for c in cases if c.gold is None) >= 25
        assert all(c.gold is None or (folder / c.gold).is_file() for c in cases)
    splits = tmp_path / "splits.json"
    splits.write_text('{"dev": ["demo"], "test": ["demo"]}', encoding="utf-8")  # one small corpus, twice
    monkeypatch.setattr(evaluation, "SPLITS", splits)
    assert main(["eval", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"dev", "test"} and result["test"]["corpora"]["demo"]["chunks"] > 0
    assert result["test"]["hit@3"] >= 0.95 and result["test"]["questions"] >= 75
    assert main(["eval"]) == 0
    assert "test (jamais vu pendant les réglages)" in capsys.readouterr().out


def test_the_evaluation_command_refuses_a_bad_questions_file(tmp_path, capsys) -> None:  # noqa: ANN001
    from rag.__main__ import main
    from rag.evaluation import CORPUS

    (tmp_path / "q.jsonl").write_text('{"question": "x", "gold": null}\nnot json\n', encoding="utf-8")
    assert main(["eval", "--corpus", str(CORPUS), "--questions", str(tmp_path / "q.jsonl")]) == 2
    assert "ligne 2" in capsys.readouterr().err
