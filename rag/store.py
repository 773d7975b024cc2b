"""Vector stores behind one interface: add, delete a document, query with metadata filters,
count, list. Chroma (persistent, telemetry off, always given our embedding function) and an
in-memory store that proves the interface is swappable; both pass the same contract tests."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.config import get_settings
from rag.embeddings import ChromaEmbeddings, model_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    metadata: dict[str, Any]
    score: float  # cosine similarity, -1..1


class VectorStore(Protocol):
    name: str

    def add(self, records: list[Record], embeddings: np.ndarray) -> None: ...
    def delete_document(self, document: str) -> int: ...
    def query(self, embedding: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]: ...
    def count(self, where: dict[str, Any] | None = None) -> int: ...
    def records(self, where: dict[str, Any] | None = None) -> list[Record]: ...


def _matches(metadata: dict[str, Any], where: dict[str, Any] | None) -> bool:
    return not where or all(metadata.get(k) == v for k, v in where.items())


class MemoryStore:
    """Vectors in a numpy matrix, exact cosine search. For tests, evaluations and small bases."""

    name = "memory"

    def __init__(self) -> None:
        self._records: list[Record] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._lock = threading.Lock()

    def add(self, records: list[Record], embeddings: np.ndarray) -> None:
        if not records:
            return
        with self._lock:
            replaced = {r.id for r in records}
            keep = [n for n, r in enumerate(self._records) if r.id not in replaced]
            if len(keep) != len(self._records):
                self._records = [self._records[n] for n in keep]
                self._vectors = self._vectors[keep]
            self._records += records
            vectors = np.asarray(embeddings, dtype=np.float32)
            self._vectors = vectors if self._vectors.size == 0 else np.vstack([self._vectors, vectors])

    def delete_document(self, document: str) -> int:
        with self._lock:
            keep = [n for n, r in enumerate(self._records) if r.metadata.get("document") != document]
            removed = len(self._records) - len(keep)
            self._records = [self._records[n] for n in keep]
            self._vectors = self._vectors[keep] if keep else np.zeros((0, 0), dtype=np.float32)
            return removed

    def query(self, embedding: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        with self._lock:
            if not self._records:
                return []
            scores = self._vectors @ np.asarray(embedding, dtype=np.float32)
            order = np.argsort(-scores)
            hits = []
            for n in order:
                record = self._records[int(n)]
                if _matches(record.metadata, where):
                    hits.append(Hit(record.id, record.text, dict(record.metadata), float(scores[int(n)])))
                    if len(hits) == k:
                        break
            return hits

    def count(self, where: dict[str, Any] | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._records if _matches(r.metadata, where))

    def records(self, where: dict[str, Any] | None = None) -> list[Record]:
        with self._lock:
            return [r for r in self._records if _matches(r.metadata, where)]


def _chroma_where(where: dict[str, Any] | None) -> dict[str, Any] | None:
    if not where:
        return None
    if len(where) == 1:
        return dict(where)
    return {"$and": [{k: v} for k, v in where.items()]}


class ChromaStore:
    """A persistent Chroma collection under `path`; cosine space; telemetry off."""

    name = "chroma"

    def __init__(self, path: Path, collection: str | None = None) -> None:
        # Here, not at the top: Chroma (seconds to load) only when the vector store opens.
        import chromadb

        # Here, not at the top: Chroma (seconds to load) only when the vector store opens.
        from chromadb.config import Settings as ChromaSettings


        path.mkdir(parents=True, exist_ok=True)
        self.client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False,
                                                                                          allow_reset=True))
        # One collection per embedding model: vectors of another model are never compared with these
        # (a changed model starts an empty collection, which `kb.reindex_missing` fills).
        self.collection = self.client.get_or_create_collection(
            collection or f"cnss_kb_{model_key()}", embedding_function=ChromaEmbeddings(),  # type: ignore[arg-type]
            metadata={"hnsw:space": "cosine"})

    def add(self, records: list[Record], embeddings: np.ndarray) -> None:
        step = max(1, min(5000, self.client.get_max_batch_size()))
        for start in range(0, len(records), step):
            part = records[start:start + step]
            self.collection.upsert(ids=[r.id for r in part], documents=[r.text for r in part],
                                   metadatas=[r.metadata for r in part],
                                   embeddings=np.asarray(embeddings[start:start + step], dtype=np.float32))

    def delete_document(self, document: str) -> int:
        ids = [r.id for r in self.records({"document": document})]
        if ids:
            self.collection.delete(ids=ids)
        return len(ids)

    def query(self, embedding: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        # No count() first: it costs as much as the search (6 ms at 50,000 chunks), and Chroma answers
        # an empty collection or one smaller than k with what it has.
        result = self.collection.query(query_embeddings=np.asarray([embedding], dtype=np.float32),
                                       n_results=k, where=_chroma_where(where),
                                       include=["documents", "metadatas", "distances"])
        documents, metadatas, distances = result["documents"], result["metadatas"], result["distances"]
        assert documents is not None and metadatas is not None and distances is not None  # all three included
        return [Hit(i, d or "", dict(m or {}), 1.0 - float(dist)) for i, d, m, dist in
                zip(result["ids"][0], documents[0], metadatas[0], distances[0], strict=True)]

    def count(self, where: dict[str, Any] | None = None) -> int:
        if not where:
            return self.collection.count()
        return len(self.records(where))

    def records(self, where: dict[str, Any] | None = None) -> list[Record]:
        """Every record, read by pages (one request for 50,000 would exceed SQLite's variable limit)."""
        out: list[Record] = []
        page = 5000
        while True:
            result = self.collection.get(where=_chroma_where(where), include=["documents", "metadatas"],
                                         limit=page, offset=len(out))
            documents, metadatas = result["documents"], result["metadatas"]
            assert documents is not None and metadatas is not None  # both included
            out += [Record(i, d or "", dict(m or {})) for i, d, m in zip(result["ids"], documents, metadatas,
                                                                          strict=True)]
            if len(result["ids"]) < page:
                return out


_default: VectorStore | None = None
_default_lock = threading.Lock()


def default_store() -> VectorStore:
    """The configured store of this process (Chroma under DATA_DIR/chroma unless told otherwise)."""
    global _default

    settings = get_settings()
    with _default_lock:
        wanted = (settings.vector_store, str(settings.data_dir))
        if _default is None or getattr(_default, "_key", None) != wanted:
            store: Any = ChromaStore(settings.data_dir / "chroma") if settings.vector_store == "chroma" \
                else MemoryStore()
            store._key = wanted
            _default = store
        return _default
