"""Benchmark: the chatbot's retrieval.

1. The evaluation of both splits (`rag/eval/splits.json`): every corpus indexed into its own store
   (time printed), then hit@1, hit@3, MRR and the refusals' precision and recall. The test split's
   corpora were never used while tuning; its figures are the ones reported (targets: hit@3 >= 0.95,
   MRR >= 0.90, refusal precision and recall >= 0.90).
2. A knowledge base of about 50,000 chunks (generated French documents) in Chroma, then the
   retrieval latency of every evaluation question over it (normalise and embed the question, dense
   + BM25 with typo folding, fusion, cheap signals; no LLM): p50 / p95 (target p95 <= 50 ms); then,
   apart, the refusal decision's time (it embeds the best passages' sentences).

    .venv/bin/python -m bench.rag [--chunks 50000] [--store chroma|memory] [--reuse DIR] [--embed all|sentences]

Embedding is the cost of ingestion (about 1,000 tokens a second on this machine's two cores, so
some 5 chunks of 800 characters a second): embedding 50,000 chunks one by one takes hours. By
default (`--embed sentences`) the generated chunks' vectors are the normalised sum of their
sentences' real vectors (each distinct sentence embedded once), which gives the store 50,000
distinct vectors of the model's geometry for the latency figure; the real ingestion rate is
measured on a sample of chunks through the real path (load, chunk, embed, store) and the time for
the whole base extrapolated from it. `--embed all` embeds every chunk for real; `--reuse DIR`
measures on a store an earlier run left in DIR.
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


def _split_figures(evaluation, split: str) -> None:  # noqa: ANN001
    result = evaluation.evaluate_split(split)
    label = "test split (never seen while tuning)" if split == "test" else "dev split (tuned on)"
    for name, part in result["corpora"].items():
        print(f"  {name}: indexed in {part['index_seconds']:.1f} s ({part['chunks']} chunks), {part['questions']} "
              f"questions ({part['out_of_scope']} out of scope): hit@3 {part['hit@3']:.3f}, MRR {part['mrr']:.3f}, "
              f"refusal precision {part['refusal_precision']:.3f}, recall {part['refusal_recall']:.3f}")
    print(f"{label}, {result['questions']} questions ({result['out_of_scope']} out of scope): hit@1 "
          f"{result['hit@1']:.3f}, hit@3 {result['hit@3']:.3f}, MRR {result['mrr']:.3f}, refusal precision "
          f"{result['refusal_precision']:.3f}, refusal recall {result['refusal_recall']:.3f}, in-scope refused "
          f"{result['in_scope_refused']:.1%}")


def _compose_vectors(index, folder: Path) -> int:  # noqa: ANN001
    """The generated files chunked for real; each chunk's vector the normalised sum of its
    sentences' real vectors (every distinct sentence embedded once)."""
    import numpy as np

    from rag import embeddings
    from rag.chunking import chunk
    from rag.loaders import load, title_of
    from rag.store import Record

    settings = config.get_settings()
    cache: dict[str, np.ndarray] = {}
    total = 0
    for path in sorted(folder.iterdir()):
        sections = load(path)
        title = title_of(path, sections)
        pieces = chunk(sections, size=settings.rag_chunk_size, overlap=settings.rag_chunk_overlap)
        parts = [[x for x in p.text.replace("\n", ". ").split(". ") if x.strip()] for p in pieces]
        missing = sorted({x for sentences in parts for x in sentences if x not in cache})
        if missing:
            cache.update(zip(missing, embeddings.embed(missing, "passage"), strict=True))
        vectors = np.array([np.sum([cache[x] for x in sentences], axis=0) for sentences in parts], dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        records = [Record(f"{path.stem}::{p.index}", p.text, {"document": path.stem, "title": title,
                                                             "location": p.location, "source": path.name,
                                                             "chunk": p.index}) for p in pieces]
        index.store.add(records, vectors)
        total += len(records)
    index.invalidate()
    print(f"  {len(cache):,} distinct sentences embedded for {total:,} chunks")
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--store", choices=["chroma", "memory"], default="chroma")
    parser.add_argument("--reuse", help="a folder left by an earlier run: skip the ingestion")
    parser.add_argument("--embed", choices=["all", "sentences"], default="sentences")
    parser.add_argument("--sample", type=int, default=200, help="chunks ingested for real to measure the rate")
    args = parser.parse_args()
    work = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="bench-rag-"))
    os.environ["DATA_DIR"] = str(work)
    os.environ["VECTOR_STORE"] = args.store
    config.reload_settings()

    from rag import embeddings, evaluation
    from rag.index import Index
    from rag.store import ChromaStore, MemoryStore

    started = time.perf_counter()
    embeddings.model()
    print(f"embedding model {embeddings.model_name()} loaded in {time.perf_counter() - started:.1f} s")
    for split in ("dev", "test"):
        _split_figures(evaluation, split)
    cases = [case for split in ("dev", "test") for name in evaluation.splits()[split]
             for case in evaluation.read_questions(evaluation.corpus_paths(name)[1])]

    store = ChromaStore(work / "chroma") if args.store == "chroma" or args.reuse else MemoryStore()
    index = Index(store)
    if not args.reuse:
        folder = work / "docs"
        folder.mkdir()
        files = generated_corpus(folder, args.chunks)
        sample_dir = work / "sample"
        sample_dir.mkdir()
        generated_corpus(sample_dir, args.sample, per_file=args.sample, seed=11)
        sample = Index(MemoryStore())
        started = time.perf_counter()
        done = sum(sample.add_document(p.stem, p) for p in sorted(sample_dir.iterdir()))
        rate = done / (time.perf_counter() - started)
        print(f"real ingestion (load, chunk, embed, store) of {done} chunks: {rate:.1f} chunks/s, so about "
              f"{args.chunks / rate / 3600:.1f} h for {args.chunks:,} chunks on this machine")
        started = time.perf_counter()
        if args.embed == "all":
            for path in sorted(folder.iterdir()):
                index.add_document(path.stem, path)
        else:
            _compose_vectors(index, folder)
        for path in sorted(evaluation.CORPUS.glob("*.md")):
            index.add_document(path.name, path)
        seconds = time.perf_counter() - started
        print(f"store filled ({args.embed}; kept in {work}): {files} files, {store.count():,} chunks in "
              f"{seconds:.1f} s")
    total = store.count()
    started = time.perf_counter()
    index.search("prime de naissance")  # builds the keyword index once
    print(f"BM25 index over {total:,} chunks built in {time.perf_counter() - started:.1f} s (once per process and "
          "change)")
    samples: list[float] = []
    judged: dict[str, list[float]] = {"first": [], "again": []}
    for name in ("first", "again"):  # the passages' sentence vectors are kept: a second question about them is cheaper
        for case in cases:
            t = time.perf_counter()
            retrieval = index.search(case.question, judge=False)
            samples.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.judge(retrieval, case.question)
            judged[name].append((time.perf_counter() - t) * 1000)
    samples.sort()
    print(f"retrieval latency over {total:,} chunks ({len(samples)} searches: normalise and embed the question, "
          f"dense + BM25, fusion, cheap signals; no LLM): p50 {statistics.median(samples):.1f} ms, "
          f"p95 {samples[int(len(samples) * 0.95)]:.1f} ms, max {samples[-1]:.1f} ms")
    for name, figures in judged.items():
        figures.sort()
        label = "each question once" if name == "first" else "the same questions again, sentences already embedded"
        print(f"refusal decision ({label}: embed the best passages' sentences, confidence): "
              f"p50 {statistics.median(figures):.1f} ms, p95 {figures[int(len(figures) * 0.95)]:.1f} ms")

if __name__ == "__main__":
    main()
