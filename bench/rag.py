"""Benchmark: the chatbot's retrieval.

1. The shipped evaluation set on the shipped corpus with the default offline model: hit@1, hit@3,
   MRR, refusals (targets: hit@3 >= 0.95, MRR >= 0.85, out-of-scope refused >= 90 %, in-scope
   refused <= 5 %).
2. Ingestion of a knowledge base of about 50,000 chunks (generated French documents, through the
   real path: load, chunk, embed, store in Chroma), chunks/s printed; then retrieval latency (dense
   + BM25 + fusion, no LLM) over the evaluation questions: p50 / p95 (target p95 <= 50 ms).

    .venv/bin/python -m bench.rag [--chunks 50000] [--store chroma|memory] [--reuse DIR]

Embedding 50,000 chunks on this machine's CPU takes about half an hour; `--reuse DIR` measures the
retrieval on the Chroma store an earlier run left in DIR (its path is printed) without ingesting again.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from core import config


def generated_corpus(folder: Path, chunks: int, *, per_file: int = 100, seed: int = 5) -> int:
    """Markdown files made of the shipped documents' sentences, reshuffled with other figures and
    places, so that BM25 and the vectors see realistic, varied French."""
    from rag.evaluation import CORPUS

    rng = random.Random(seed)
    sentences = [s.strip() for p in sorted(CORPUS.glob("*.md")) for s in p.read_text(encoding="utf-8").replace(
        "\n", " ").split(". ") if len(s.strip()) > 30 and not s.strip().startswith("#")]
    places = ["Libreville", "Port-Gentil", "Franceville", "Oyem", "Mouila", "Lambaréné", "Tchibanga", "Koulamoutou"]
    files = max(1, chunks // per_file)
    for n in range(files):
        parts = [f"# Note de service {n + 1} — agence de {rng.choice(places)}"]
        for section in range(per_file):
            body = ". ".join(rng.sample(sentences, 5))
            body = body.replace("1432", str(rng.randint(1000, 9999)))
            parts.append(f"## Point {section + 1}\n\n{body}. Référence {rng.randint(10_000, 99_999)}, "
                         f"{rng.choice(places)}, dossier {rng.randint(1, 500)}.")
        (folder / f"note_{n:05d}.md").write_text("\n\n".join(parts), encoding="utf-8")
    return files


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--store", choices=["chroma", "memory"], default="chroma")
    parser.add_argument("--reuse", help="a folder left by an earlier run: skip the ingestion")
    args = parser.parse_args()
    work = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="bench-rag-"))
    os.environ["DATA_DIR"] = str(work)
    os.environ["VECTOR_STORE"] = args.store
    config.reload_settings()

    from rag import embeddings, evaluation
    from rag.index import Index
    from rag.store import ChromaStore, MemoryStore

    embeddings.model()  # loaded once, outside the timings
    cases = evaluation.read_questions(evaluation.QUESTIONS)
    result = evaluation.evaluate(evaluation.index_folder(evaluation.CORPUS), cases)
    result.pop("rows")
    print(f"evaluation set ({result['n']} questions, shipped corpus, default model): hit@1 {result['hit@1']:.3f}, "
          f"hit@3 {result['hit@3']:.3f}, MRR {result['mrr']:.3f}, out-of-scope refused {result['refusal_recall']:.1%}, "
          f"in-scope refused {result['in_scope_refused']:.1%}, refusal precision {result['refusal_precision']:.3f}")

    store = ChromaStore(work / "chroma") if args.store == "chroma" or args.reuse else MemoryStore()
    index = Index(store)
    if not args.reuse:
        folder = work / "docs"
        folder.mkdir()
        files = generated_corpus(folder, args.chunks)
        started = time.perf_counter()
        for path in sorted(folder.iterdir()):
            index.add_document(path.stem, path)
        for path in sorted(evaluation.CORPUS.glob("*.md")):
            index.add_document(path.name, path)
        seconds = time.perf_counter() - started
        print(f"ingestion into {args.store} (kept in {work}): {files} files, {store.count():,} chunks in "
              f"{seconds:.1f} s ({store.count() / seconds:,.0f} chunks/s: load, chunk, embed on the CPU, store)")
    total = store.count()
    started = time.perf_counter()
    index.search("prime de naissance")  # builds the keyword index once
    print(f"BM25 index over {total:,} chunks built in {time.perf_counter() - started:.1f} s (once per process and "
          "change)")
    samples = []
    for _ in range(3):
        for case in cases:
            t = time.perf_counter()
            index.search(case.question)
            samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95)]
    print(f"retrieval latency over {total:,} chunks ({len(samples)} searches: embed the question, dense + BM25, "
          f"fusion; no LLM): p50 {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms, max {samples[-1]:.1f} ms")


if __name__ == "__main__":
    main()
