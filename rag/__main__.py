"""`python -m rag ingest PATH... | ask "question" | eval [--split dev|test|all] [--corpus DIR
--questions FILE.jsonl] | tune`, each
with `--json`. Exit 0 on success, 1 when the work was refused (unreadable file...), 2 on usage errors."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core import db
from core.errors import UserError
from core.logs import setup_logging
from rag import evaluation, kb, refusal

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else text)


def cmd_ingest(args: argparse.Namespace) -> int:
    files: list[Path] = []
    for raw in args.paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            print(f"Fichier introuvable : {raw}", file=sys.stderr)
            return EXIT_USAGE
    db.ensure_schema()
    results, errors = [], []
    for path in files:
        try:
            with db.session_scope() as session:
                result = kb.ingest_path(session, path)
            results.append({"file": path.name, "document_id": result.document_id, "chunks": result.chunks,
                            "status": result.status})
        except UserError as err:
            errors.append({"file": path.name, "error": str(err)})
    data = {"documents": results, "errors": errors}
    lines = [f"{r['file']}: {r['status']} ({r['chunks']} passages)" for r in results]
    lines += [f"{e['file']}: REFUSÉ — {e['error']}" for e in errors]
    _emit(args, data, "\n".join(lines) or "Aucun fichier.")
    return EXIT_REFUSED if errors else EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    db.ensure_schema()
    result = kb.ask(args.question)
    data = result.as_dict()
    sources = "\n".join(f"  [{n}] {s['title']} ({s['document']}, passage {s['chunk']}, score {s['score']})"
                        for n, s in enumerate(data["sources"], 1))
    label = "REFUS" if result.refused else ("réponse extractive" if result.extractive else "réponse")
    _emit(args, data, f"{result.text}\n\n{label}, confiance {result.scores.get('confidence')}"
                      + (f"\nSources :\n{sources}" if sources else ""))
    return EXIT_OK


FIGURES = ("hit@1", "hit@3", "mrr", "refusal_precision", "refusal_recall", "in_scope_refused")


def _line(name: str, result: dict[str, Any]) -> str:
    shown = ", ".join(f"{k} {result[k]:.3f}" for k in FIGURES if result.get(k) is not None)
    return f"{name}: {result['questions']} questions ({result['out_of_scope']} hors sujet) — {shown}"


def cmd_eval(args: argparse.Namespace) -> int:
    if args.corpus or args.questions:
        corpus, questions = Path(args.corpus or ""), Path(args.questions or "")
        if not corpus.is_dir() or not questions.is_file():
            print("--corpus doit être un dossier et --questions un fichier JSONL.", file=sys.stderr)
            return EXIT_USAGE
        try:
            cases = evaluation.read_questions(questions)
        except ValueError as err:
            print(f"Fichier de questions invalide : {err}", file=sys.stderr)
            return EXIT_USAGE
        result = evaluation.evaluate(evaluation.index_folder(corpus), cases)
        rows = result.pop("rows")
        if args.details:
            result["rows"] = rows
        _emit(args, result, _line(corpus.name, result))
        return EXIT_OK
    # The reported figures are the test split's: corpora never used while tuning.
    chosen = ["dev", "test"] if args.split == "all" else [args.split]
    results = {split: evaluation.evaluate_split(split) for split in chosen}
    lines = []
    for split, result in results.items():
        rows = result.pop("rows")
        if args.details:
            result["rows"] = rows
        lines.append(_line(f"{split} ({'réglages' if split == 'dev' else 'jamais vu pendant les réglages'})", result))
        lines += [f"  {_line(name, part)} — indexé en {part['index_seconds']} s ({part['chunks']} passages)"
                  for name, part in result["corpora"].items()]
    _emit(args, results, "\n".join(lines))
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    """Fit the refusal model on the development split (never the test split) and print its figures."""
    rows = evaluation.evaluate_split("dev")["rows"]
    model = refusal.fit(rows)
    after = evaluation.evaluate_split("dev")
    after.pop("rows")
    _emit(args, {"model": model, "dev": after}, f"Poids ajustés sur {model['trained_on']} questions de dev : "
                                                f"{model['weights']}\n" + _line("dev", after))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="CNSS knowledge base and chatbot")
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="index documents (files or folders)")
    ingest.add_argument("paths", nargs="+")
    ingest.set_defaults(func=cmd_ingest)
    ask = sub.add_parser("ask", help="ask the chatbot a question")
    ask.add_argument("question")
    ask.set_defaults(func=cmd_ask)
    ev = sub.add_parser("eval", help="evaluate retrieval and refusals on a question set")
    ev.add_argument("--corpus", help="one folder to evaluate (with --questions) instead of the splits")
    ev.add_argument("--questions")
    ev.add_argument("--split", choices=["dev", "test", "all"], default="all")
    ev.add_argument("--details", action="store_true", help="also print every question's figures")
    ev.set_defaults(func=cmd_eval)
    tune = sub.add_parser("tune", help="fit the refusal model on the development split")
    tune.set_defaults(func=cmd_tune)
    for p in (ingest, ask, ev, tune):
        p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
