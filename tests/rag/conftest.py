"""Fixtures for the knowledge base: the shipped corpus indexed once per session in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core import config


@pytest.fixture(scope="session")
def corpus_index():  # noqa: ANN201
    from rag import evaluation

    return evaluation.index_folder(evaluation.CORPUS)


@pytest.fixture
def memory_store(monkeypatch, tmp_path) -> Iterator[None]:  # noqa: ANN001
    monkeypatch.setenv("VECTOR_STORE", "memory")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    config.reload_settings()
    yield
    config.reload_settings()


@pytest.fixture
def fake_llm(monkeypatch):  # noqa: ANN001, ANN201
    from tests.support.fake_llm import FakeLLM

    llm = FakeLLM()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", llm.start())
    monkeypatch.setenv("OPENAI_TIMEOUT_SECONDS", "1")
    config.reload_settings()
    yield llm
    llm.stop()
    config.reload_settings()
