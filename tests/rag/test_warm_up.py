"""The chatbot is loaded when the app or a worker starts, not by the first person who writes: after
the warm-up the model, the vector store and the keyword index are in memory, once per process."""

from __future__ import annotations

import threading

import pytest

from core import config
from rag import answer, embeddings


@pytest.fixture
def fresh(monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setattr(answer, "_warmed", threading.Event())
    return answer


def test_warm_up_loads_the_model_and_both_indexes_once(fresh, memory_store) -> None:  # noqa: ANN001
    seconds = fresh.warm_up()
    assert seconds is not None and seconds > 0
    assert embeddings.model_name() in embeddings._models  # the model is in memory
    index = fresh.default_index()
    assert index._keyword_index() is not None  # built already (what the first question would have waited for)
    assert fresh.warm_up() is None  # once per process
    assert fresh.warm_up_in_background() is None


def test_warm_up_in_background_follows_the_setting(fresh, memory_store, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("RAG_WARM_UP", "false")
    config.reload_settings()
    assert fresh.warm_up_in_background() is None and not fresh._warmed.is_set()
    monkeypatch.setenv("RAG_WARM_UP", "true")
    config.reload_settings()
    thread = fresh.warm_up_in_background()
    assert thread is not None
    thread.join(timeout=300)
    assert fresh._warmed.is_set()


def test_a_broken_store_is_logged_and_left_to_the_first_answer(fresh, memory_store, monkeypatch, caplog) -> None:  # noqa: ANN001
    def broken() -> None:
        raise RuntimeError("store unreadable")

    monkeypatch.setattr(answer, "default_index", broken)
    assert fresh.warm_up() is None and not fresh._warmed.is_set()
    assert "Chatbot warm-up failed" in caplog.text
