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
    base = {"terms": 3.0, "unknown": 0.0, "dense_top": 0.84, "dense_margin": 0.01, "lexical": 0.5, "coverage": 0.5,
            "coverage_top3": 0.6, "elsewhere": 0.0}
    assert refusal.confidence({**base, "terms": 0.0}) == 0.0  # nothing to look for
    weak = refusal.confidence({**base, "coverage": 0.0, "coverage_top3": 0.0, "lexical": 0.0, "unknown": 1.0})
    strong = refusal.confidence({**base, "coverage": 1.0, "coverage_top3": 1.0, "lexical": 0.9, "dense_top": 0.9})
    assert 0 <= weak < refusal.confidence(base) < strong <= 1
    assert refusal.confidence({**base, "elsewhere": 1.0}) < refusal.confidence(base)  # another body's topic


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
    assert result["hit@3"] >= 0.95 and result["mrr"] >= 0.85
    assert result["refusal_recall"] >= 0.9 and result["in_scope_refused"] <= 0.05


def test_the_evaluation_command_refuses_a_bad_questions_file(tmp_path, capsys) -> None:  # noqa: ANN001
    from rag.__main__ import main
    from rag.evaluation import CORPUS

    (tmp_path / "q.jsonl").write_text('{"question": "x", "gold": null}\nnot json\n', encoding="utf-8")
    assert main(["eval", "--corpus", str(CORPUS), "--questions", str(tmp_path / "q.jsonl")]) == 2
    assert "ligne 2" in capsys.readouterr().err
