"""The evaluation: index a folder into a fresh store, ask every question, and measure retrieval
(hit@1, hit@3, MRR on in-scope questions) and refusals (precision and recall of refusing the
out-of-scope ones)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import get_settings
from rag.index import Index, documents_ranked
from rag.loaders import SUPPORTED
from rag.store import MemoryStore

CORPUS = Path(__file__).resolve().parent / "corpus"
QUESTIONS = Path(__file__).resolve().parent / "eval" / "questions.jsonl"


@dataclass(frozen=True)
class Case:
    question: str
    gold: str | None


def read_questions(path: Path) -> list[Case]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            cases.append(Case(str(data["question"]), data.get("gold")))
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


def evaluate(index: Index, cases: list[Case]) -> dict[str, Any]:
    threshold = get_settings().rag_min_confidence
    hits1 = hits3 = 0
    reciprocal = 0.0
    refused_out = refused_in = 0
    rows = []
    inside = [c for c in cases if c.gold]
    outside = [c for c in cases if not c.gold]
    latencies = []
    for case in cases:
        retrieval = index.search(case.question)
        latencies.append(retrieval.latency_ms)
        ranked = documents_ranked(retrieval)
        refused = retrieval.confidence < threshold
        if case.gold:
            rank = ranked.index(case.gold) + 1 if case.gold in ranked else None
            hits1 += rank == 1
            hits3 += rank is not None and rank <= 3
            reciprocal += 1.0 / rank if rank else 0.0
            refused_in += refused
        else:
            refused_out += refused
        rows.append({"question": case.question, "gold": case.gold, "ranked": ranked[:3],
                     "confidence": retrieval.confidence, "refused": refused, **retrieval.details})
    refusals = refused_in + refused_out
    latencies.sort()
    return {
        "hit@1": round(hits1 / len(inside), 4) if inside else None,
        "hit@3": round(hits3 / len(inside), 4) if inside else None,
        "mrr": round(reciprocal / len(inside), 4) if inside else None,
        "refusal_precision": round(refused_out / refusals, 4) if refusals else 1.0,
        "refusal_recall": round(refused_out / len(outside), 4) if outside else None,
        "in_scope_refused": round(refused_in / len(inside), 4) if inside else None,
        "n": len(cases),
        "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1) if latencies else None,
        "rows": rows,
    }
