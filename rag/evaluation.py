"""The evaluation: index a folder into a fresh store, ask every question, and measure retrieval
(hit@1, hit@3, MRR on in-scope questions) and refusals (precision and recall of refusing the
out-of-scope ones).

Corpora (`rag/eval/corpora/<name>/`, each with its `questions.jsonl`; `demo` is the demo base
with `rag/eval/questions.jsonl`) are split into development and test (`rag/eval/splits.json`):
the signals and weights are tuned on the development split only, and the test split's figures
are the ones reported."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import get_settings
from rag.index import Index, documents_ranked
from rag.loaders import SUPPORTED
from rag.store import MemoryStore

CORPUS = Path(__file__).resolve().parent / "corpus"
QUESTIONS = Path(__file__).resolve().parent / "eval" / "questions.jsonl"
CORPORA = Path(__file__).resolve().parent / "eval" / "corpora"
SPLITS = Path(__file__).resolve().parent / "eval" / "splits.json"


@dataclass(frozen=True)
class Case:
    question: str
    gold: str | None
    kind: str = ""
    referral: str | None = None


def corpus_paths(name: str) -> tuple[Path, Path]:
    """A corpus's folder and its questions."""
    if name == "demo":
        return CORPUS, QUESTIONS
    return CORPORA / name, CORPORA / name / "questions.jsonl"


def splits() -> dict[str, list[str]]:
    data = json.loads(SPLITS.read_text(encoding="utf-8"))
    return {"dev": list(data["dev"]), "test": list(data["test"])}


def read_questions(path: Path) -> list[Case]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            cases.append(Case(str(data["question"]), data.get("gold"), str(data.get("kind") or ""),
                              data.get("referral")))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path.name}, ligne {n} : {err}") from err
    return cases


def index_folder(folder: Path, index: Index | None = None) -> Index:
    """Every supported file of `folder`, indexed under its file name, into `index` (or a fresh
    in-memory one)."""
    index = index or Index(MemoryStore())
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in SUPPORTED:
            index.add_document(path.name, path)
    return index


def evaluate(index: Index, cases: list[Case], progress: Callable[[int, int], None] | None = None, *,
             key: str = "document") -> dict[str, Any]:
    threshold = get_settings().rag_min_confidence
    rows = []
    latencies = []
    for n, case in enumerate(cases):
        if progress is not None:
            progress(n, len(cases))
        retrieval = index.search(case.question)
        latencies.append(retrieval.latency_ms + retrieval.details.get("judge_ms", 0.0))
        ranked = documents_ranked(retrieval, key)
        refused = not retrieval.passages or retrieval.confidence < threshold
        rows.append({"question": case.question, "gold": case.gold, "kind": case.kind, "ranked": ranked[:3],
                     "confidence": retrieval.confidence, "refused": refused, **retrieval.details})
    latencies.sort()
    return {**figures(rows), "n": len(cases),
            "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1) if latencies else None,
            "rows": rows}


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """hit@1, hit@3, MRR and the refusals' precision and recall of evaluation rows (one corpus or several)."""
    inside = [r for r in rows if r["gold"]]
    outside = [r for r in rows if not r["gold"]]
    ranks = [r["ranked"].index(r["gold"]) + 1 if r["gold"] in r["ranked"] else None for r in inside]
    hits1 = sum(1 for rank in ranks if rank == 1)
    hits3 = sum(1 for rank in ranks if rank is not None and rank <= 3)
    reciprocal = sum(1.0 / rank for rank in ranks if rank)
    refused_in = sum(1 for r in inside if r["refused"])
    refused_out = sum(1 for r in outside if r["refused"])
    refusals = refused_in + refused_out
    return {
        "hit@1": round(hits1 / len(inside), 4) if inside else None,
        "hit@3": round(hits3 / len(inside), 4) if inside else None,
        "mrr": round(reciprocal / len(inside), 4) if inside else None,
        "refusal_precision": round(refused_out / refusals, 4) if refusals else 1.0,
        "refusal_recall": round(refused_out / len(outside), 4) if outside else None,
        "in_scope_refused": round(refused_in / len(inside), 4) if inside else None,
        "questions": len(rows), "out_of_scope": len(outside),
    }


def evaluate_split(split: str, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Every corpus of a split indexed into its own fresh store (timed) and evaluated; the split's
    figures over all its questions, and each corpus's."""
    corpora: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name in splits()[split]:
        folder, questions = corpus_paths(name)
        started = time.perf_counter()
        index = index_folder(folder)
        seconds = time.perf_counter() - started
        result = evaluate(index, read_questions(questions), functools.partial(progress, name) if progress else None)
        for row in result["rows"]:
            row["corpus"] = name
        rows += result.pop("rows")
        corpora[name] = {**result, "index_seconds": round(seconds, 1), "chunks": index.store.count()}
    return {"split": split, **figures(rows), "corpora": corpora, "rows": rows}
