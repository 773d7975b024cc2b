"""Indexing and hybrid retrieval over one vector store: dense search and BM25 (French stems, typos
folded), fused by weighted reciprocal ranks, with a confidence (`rag.refusal`) below which the bot
refuses. Sentences repeated across documents (disclaimers, footers) are boilerplate: never a source."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import bm25s
import numpy as np

from core.config import get_settings
from core.text import fold
from rag import embeddings, refusal
from rag.chunking import chunk
from rag.loaders import Section, load, title_of
from rag.store import Record, VectorStore
from rag.text import deletions, normalize_query, query_tokens, tokens

log = logging.getLogger(__name__)
CANDIDATES = 30  # taken from each retriever before fusion
_EMBEDDER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-embedding")
JUDGED_SENTENCES = 24  # sentences of the best passages compared with the question for the refusal
JUDGED_CHARS = 300


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
    vector: np.ndarray | None = None  # the question's, kept for the sentence-level judgement


class Index:
    """Documents chunked, embedded and stored; BM25 kept in step with the store."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._bm25: Any = None
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
        vectors = embeddings.embed([r.text for r in records], "passage")
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

    def _keyword_index(self) -> _Keywords:
        with self._lock:
            if self._bm25 is None:
                started = time.perf_counter()
                self._bm25 = _Keywords.build(self.store.records())
                log.info("BM25 index of %d chunks built in %.2f s", len(self._bm25.records),
                         time.perf_counter() - started)
            return cast(_Keywords, self._bm25)

    def mentions(self, word: str) -> bool:
        """Whether some document uses `word` (a name such as CNAMGS)."""
        return all(t in self._keyword_index().vocabulary for t in tokens(word))

    def boilerplate_sentences(self) -> frozenset[str]:
        return self._keyword_index().boilerplate_sentences

    def search(self, question: str, *, k: int | None = None, judge: bool = True) -> Retrieval:
        """The best passages for `question` and, with `judge`, the confidence that they answer it
        (`rag.refusal`: it embeds the best passages' sentences not embedded before, up to 0.5 s on
        two cores; its time is in `details["judge_ms"]`, not in the retrieval's latency)."""
        settings = get_settings()
        k = k or settings.rag_top_k
        started = time.perf_counter()
        question = normalize_query(question)
        # The question's vector is computed in the C engine, which lets the GIL go: the keyword side
        # runs meanwhile.
        vector = _EMBEDDER.submit(embeddings.embed, [question], "query") if question.strip() else None
        keywords = self._keyword_index()
        asked = query_tokens(question)
        query = [keywords.known(t) for t in asked]  # a typo (`alocation`) read as the word it misses by a letter
        query = [t for n, t in enumerate(query) if t not in query[:n]]
        keyword: list[tuple[Record, float]] = []
        records = keywords.records
        if query and records:
            ids, scores = keywords.retriever.retrieve([query], k=min(CANDIDATES, len(records)), show_progress=False,
                                                      n_threads=1)
            keyword = [(records[int(i)], float(s)) for i, s in zip(ids[0], scores[0], strict=True)
                       if s > 0 and records[int(i)].id not in keywords.boilerplate]
        question_vector = vector.result()[0] if vector is not None else None
        dense_hits = [h for h in self.store.query(question_vector, CANDIDATES)
                      if h.id not in keywords.boilerplate] if question_vector is not None else []
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
        own = {keywords.known(t) for t in tokens(question)}  # the question's own stems, not the expansions
        signals = refusal.signals(
            own_terms=own, unknown=sum(1 for t in own if t not in keywords.vocabulary), idf=keywords.idf,
            dense=[(h.metadata.get("document"), h.score) for h in dense_hits],
            keyword_top=keyword[0][1] if keyword else 0.0,
            passages=[set(tokens(f"{p.title} {p.text}")) for p in passages],
            question=question)
        retrieval = Retrieval(passages, 0.0, (time.perf_counter() - started) * 1000, signals, question_vector)
        if judge:
            self.judge(retrieval, question)
        return retrieval

    def judge(self, retrieval: Retrieval, question: str) -> None:
        """The sentence-level signal (the closest sentence of the three best passages to the
        question: a passage on the right topic that does not say what is asked scores lower than
        its whole), then the confidence."""
        started = time.perf_counter()
        skip = self._keyword_index().boilerplate_sentences  # what is never quoted never vouches for an answer
        found = [x[:JUDGED_CHARS] for p in retrieval.passages[:3] for x in _SENTENCES.split(p.text)
                 if len(x.strip()) > 20 and " ".join(fold(x).split()) not in skip
                 and not BOILERPLATE.search(fold(x))][:JUDGED_SENTENCES]
        closest = 0.0
        if found and question.strip():
            question_vector = retrieval.vector if retrieval.vector is not None else \
                embeddings.embed([normalize_query(question)], "query")[0]
            closest = float(np.max(_sentence_vectors(found) @ question_vector))
        retrieval.details["sentence_top"] = round(closest, 4)
        retrieval.confidence = refusal.confidence(retrieval.details)
        retrieval.details["judge_ms"] = round((time.perf_counter() - started) * 1000, 1)


_SENTENCE_CACHE: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_SENTENCE_CACHE_SIZE = 20_000  # some 30 MB of vectors: the sentences of the passages people ask about most
_sentence_lock = threading.Lock()


def _sentence_vectors(sentences: list[str]) -> np.ndarray:
    """The passages' sentences embedded, each once per process while it stays among the most
    recently judged (the same passages come back question after question)."""
    key = embeddings.model_key()
    with _sentence_lock:
        known = {x: _SENTENCE_CACHE[(key, x)] for x in sentences if (key, x) in _SENTENCE_CACHE}
        for x in known:
            _SENTENCE_CACHE.move_to_end((key, x))
    missing = sorted({x for x in sentences if x not in known})
    if missing:
        fresh = dict(zip(missing, embeddings.embed(missing, "passage"), strict=True))
        with _sentence_lock:
            for x, vector in fresh.items():
                _SENTENCE_CACHE[(key, x)] = vector
            while len(_SENTENCE_CACHE) > _SENTENCE_CACHE_SIZE:
                _SENTENCE_CACHE.popitem(last=False)
        known.update(fresh)
    return np.array([known[x] for x in sentences], dtype=np.float32)


@dataclass
class _Keywords:
    """BM25 over every chunk (title with text), the vocabulary for typo folding, and the chunks
    that are boilerplate."""

    retriever: Any
    records: list[Record]
    vocabulary: set[str]
    by_deletion: dict[str, str]
    boilerplate: set[str]
    boilerplate_sentences: frozenset[str]
    counts: dict[str, int]

    def idf(self, stem: str) -> float:
        """How rare a stem is in the chunks (a word no chunk uses is rarest)."""
        total = max(1, len(self.records))
        return math.log((total + 1) / (self.counts.get(stem, 0) + 0.5))

    @classmethod
    def build(cls, records: list[Record]) -> _Keywords:
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [tokens(f"{r.metadata.get('title', '')} {r.text}") or ["_"] for r in records]
        if records:
            retriever.index(corpus, show_progress=False)
        counts: dict[str, int] = {}
        for stems in corpus:
            for stem in set(stems):
                counts[stem] = counts.get(stem, 0) + 1
        by_deletion: dict[str, str] = {}
        for stem in sorted(counts, key=lambda w: -counts[w]):  # the commonest word wins a shared form
            if len(stem) >= 4 and not stem.isdigit():
                for form in deletions(stem):
                    by_deletion.setdefault(form, stem)
        repeated = boilerplate_sentences(records)
        return cls(retriever, records, set(counts), by_deletion, boilerplate_chunks(records, repeated), repeated,
                   counts)

    def known(self, stem: str) -> str:
        if stem in self.vocabulary or len(stem) < 4 or stem.isdigit():
            return stem
        for form in sorted(deletions(stem)):
            if form in self.by_deletion:
                return self.by_deletion[form]
        return stem


_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
# Sentences that say where a document comes from or what it is worth, not what the CNSS does
# (matched on folded text).
BOILERPLATE = re.compile(r"document de demonstration|seuls? (les )?textes? (reglementaires?|officiels?) font foi|"
                         r"fourni (uniquement )?a titre (indicatif|d['’]information|informatif)|"
                         r"tous droits reserves|ne saurait engager|n['’]a pas de valeur (juridique|contractuelle)|"
                         r"\bfont foi\b")


BOILERPLATE_DOCUMENTS = 4  # a sentence in this many documents at least,
BOILERPLATE_SHARE = 0.5  # and in half of them, is a footer (a rule restated in three guides is not)


def boilerplate_sentences(records: list[Record]) -> frozenset[str]:
    """Folded sentences repeated across many documents, or saying what a document is worth."""
    seen: dict[str, set[str]] = {}
    documents = set()
    for record in records:
        document = str(record.metadata.get("document", ""))
        documents.add(document)
        for sentence in _SENTENCES.split(record.text):
            key = " ".join(fold(sentence).split())
            if len(key) >= 40:
                seen.setdefault(key, set()).add(document)
    least = max(BOILERPLATE_DOCUMENTS, BOILERPLATE_SHARE * len(documents))
    return frozenset(key for key, found in seen.items() if len(found) >= least or BOILERPLATE.search(key))


def boilerplate_chunks(records: list[Record], repeated: frozenset[str]) -> set[str]:
    """Chunks whose text, heading aside, is boilerplate through and through."""
    out = set()
    for record in records:
        body = record.text
        location = str(record.metadata.get("location", ""))
        if location and body.startswith(location + "\n"):
            body = body[len(location) + 1:]
        sentences = [" ".join(fold(x).split()) for x in _SENTENCES.split(body) if x.strip()]
        kept = [x for x in sentences if x not in repeated and not BOILERPLATE.search(x)]
        if sentences and sum(len(x) for x in kept) < 40:
            out.add(record.id)
    return out
def documents_ranked(retrieval: Retrieval, key: str = "document") -> list[str]:
    """Documents in the order their best passage comes (for hit@k and MRR); `key="source"` names
    them by file name (the live base's documents are numbered)."""
    seen: list[str] = []
    for passage in retrieval.passages:
        name = passage.source if key == "source" else passage.document
        if name not in seen:
            seen.append(name)
    return seen
