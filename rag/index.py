"""Indexing and hybrid retrieval over one vector store: dense search and BM25 (French stems),
fused by weighted reciprocal ranks, with a confidence below which the bot refuses."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bm25s

from core.config import get_settings
from rag import embeddings
from rag.chunking import chunk
from rag.loaders import Section, load, title_of
from rag.store import Record, VectorStore
from rag.text import tokens

log = logging.getLogger(__name__)
CANDIDATES = 30  # taken from each retriever before fusion


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    document: str
    title: str
    location: str
    chunk: int
    source: str  # the file name
    dense: float  # cosine similarity, or 0 when dense search did not find it
    bm25: float  # BM25 score, or 0
    fused: float  # weighted reciprocal rank fusion

    def as_source(self) -> dict[str, Any]:
        return {"document": self.document, "source": self.source, "title": self.title, "location": self.location,
                "chunk": self.chunk,
                "score": round(self.fused, 4), "dense": round(self.dense, 3), "bm25": round(self.bm25, 2),
                "excerpt": self.text[:300]}


@dataclass
class Retrieval:
    passages: list[Passage]
    confidence: float
    latency_ms: float
    details: dict[str, float] = field(default_factory=dict)


def confidence(dense_top: float, bm25_top: float, query_terms: int, coverage: float) -> float:
    """0..1 from three signals: the best BM25 score per query term, the best cosine similarity, and
    the share of the question's stems found in the best passage. Weights and scales were tuned on
    the evaluation set (`bench/rag_eval.py` prints every question's figures): out-of-scope questions
    share almost no stems with the documents, in-scope ones share several."""
    if query_terms == 0:
        return 0.0
    lexical = 1.0 - math.exp(-bm25_top / math.sqrt(query_terms))
    semantic = min(1.0, max(0.0, (dense_top - 0.15) / 0.5))
    return round(0.6 * lexical + 0.2 * semantic + 0.2 * coverage, 4)


class Index:
    """Documents chunked, embedded and stored; BM25 kept in step with the store."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._bm25: Any = None
        self._bm25_records: list[Record] = []
        self._lock = threading.Lock()

    # --- writing -------------------------------------------------------------------------------

    def add_document(self, document: str, path: Path, *, title: str | None = None,
                     sections: list[Section] | None = None, source: str | None = None) -> int:
        """Chunks of `path` under the id `document` (its earlier chunks replaced); returns the count."""
        settings = get_settings()
        sections = sections if sections is not None else load(path)
        title = title or title_of(path, sections)
        pieces = chunk(sections, size=settings.rag_chunk_size, overlap=settings.rag_chunk_overlap)
        records = [Record(f"{document}::{c.index}", c.text,
                          {"document": document, "title": title, "location": c.location, "source": source or path.name,
                           "chunk": c.index}) for c in pieces]
        vectors = embeddings.embed([r.text for r in records])
        self.store.delete_document(document)
        self.store.add(records, vectors)
        self.invalidate()
        return len(records)

    def remove_document(self, document: str) -> int:
        removed = self.store.delete_document(document)
        self.invalidate()
        return removed

    def invalidate(self) -> None:
        with self._lock:
            self._bm25 = None

    # --- reading -------------------------------------------------------------------------------

    def _keyword_index(self) -> tuple[Any, list[Record]]:
        with self._lock:
            if self._bm25 is None:
                started = time.perf_counter()
                records = self.store.records()
                retriever = bm25s.BM25(k1=1.2, b=0.75)
                corpus = [tokens(f"{r.metadata.get('title', '')} {r.text}") or ["_"] for r in records]
                if records:
                    retriever.index(corpus, show_progress=False)
                self._bm25, self._bm25_records = retriever, records
                log.info("BM25 index of %d chunks built in %.2f s", len(records), time.perf_counter() - started)
            return self._bm25, self._bm25_records

    def search(self, question: str, *, k: int | None = None) -> Retrieval:
        settings = get_settings()
        k = k or settings.rag_top_k
        started = time.perf_counter()
        query_tokens = tokens(question)
        dense_hits = self.store.query(embeddings.embed([question])[0], CANDIDATES) if question.strip() else []
        retriever, records = self._keyword_index()
        keyword: list[tuple[Record, float]] = []
        if query_tokens and records:
            ids, scores = retriever.retrieve([query_tokens], k=min(CANDIDATES, len(records)), show_progress=False,
                                             n_threads=1)
            keyword = [(records[int(i)], float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]
        fused: dict[str, dict[str, Any]] = {}
        for rank, hit in enumerate(dense_hits):
            entry = fused.setdefault(hit.id, {"text": hit.text, "meta": hit.metadata, "dense": 0.0, "bm25": 0.0,
                                              "score": 0.0})
            entry["dense"] = hit.score
            entry["score"] += settings.rag_dense_weight / (settings.rag_rrf_k + rank + 1)
        for rank, (record, score) in enumerate(keyword):
            entry = fused.setdefault(record.id, {"text": record.text, "meta": record.metadata, "dense": 0.0,
                                                 "bm25": 0.0, "score": 0.0})
            entry["bm25"] = score
            entry["score"] += settings.rag_bm25_weight / (settings.rag_rrf_k + rank + 1)
        ranked = sorted(fused.items(), key=lambda item: -item[1]["score"])[:k]
        passages = [Passage(pid, e["text"], str(e["meta"].get("document", "")), str(e["meta"].get("title", "")),
                            str(e["meta"].get("location", "")), int(e["meta"].get("chunk", 0)),
                            str(e["meta"].get("source", "")), e["dense"], e["bm25"],
                            e["score"]) for pid, e in ranked]
        dense_top = dense_hits[0].score if dense_hits else 0.0
        bm25_top = keyword[0][1] if keyword else 0.0
        wanted = set(query_tokens)
        coverage = len(wanted & set(tokens(f"{passages[0].title} {passages[0].text}"))) / len(wanted) \
            if wanted and passages else 0.0
        return Retrieval(passages, confidence(dense_top, bm25_top, len(query_tokens), coverage),
                         (time.perf_counter() - started) * 1000,
                         {"dense_top": round(dense_top, 4), "bm25_top": round(bm25_top, 4),
                          "query_terms": len(query_tokens), "coverage": round(coverage, 3)})


def documents_ranked(retrieval: Retrieval) -> list[str]:
    """Documents in the order their best passage comes (for hit@k and MRR)."""
    seen: list[str] = []
    for passage in retrieval.passages:
        if passage.document not in seen:
            seen.append(passage.document)
    return seen

