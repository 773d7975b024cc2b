"""Benchmark: the first answer after a start, with and without the warm-up.

A fresh process per run, on a Chroma knowledge base of the shipped corpus (ingested once, by the
real `python -m rag ingest`). Without the warm-up, the first person to write waits for torch, the
embedding model, the vector store and the keyword index; with it (RAG_WARM_UP, what the app and the
workers do when they start), that time is spent at start and the first answer costs what the
second one does. Prints, per mode: the warm-up (at start), the first and the second answer.

    .venv/bin/python -m bench.first_answer [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ("Combien touche-t-on pour la prime de naissance ?", "Quand est versée la pension de vieillesse ?")
PROBE = """
import json, time
from rag import answer
warm = answer.warm_up() if {warm} else None
started = time.perf_counter()
answer.answer({q1!r})
first = time.perf_counter() - started
started = time.perf_counter()
answer.answer({q2!r})
second = time.perf_counter() - started
print(json.dumps({{"warm_up": warm, "first": first, "second": second}}))
"""


def run(env: dict[str, str], warm: bool) -> dict[str, float | None]:
    code = PROBE.format(warm=warm, q1=QUESTIONS[0], q2=QUESTIONS[1])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="fresh processes per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnss-first-answer-") as folder:
        env = {**os.environ, "DATA_DIR": folder, "VECTOR_STORE": "chroma", "HF_HUB_OFFLINE": "1",
               "DATABASE_URL": f"sqlite:///{folder}/cnss.db", "RAG_WARM_UP": "false", "LOG_LEVEL": "WARNING"}
        env.pop("OPENAI_API_KEY", None)
        subprocess.run([sys.executable, "-m", "core", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300, check=True)
        subprocess.run([sys.executable, "-m", "rag", "ingest", str(ROOT / "rag" / "corpus")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=1200, check=True)
        print(f"{'mode':<16}{'warm-up at start':>18}{'1st answer':>12}{'2nd answer':>12}   (seconds, median)")
        for warm in (False, True):
            results = [run(env, warm) for _ in range(args.runs)]
            warm_up = statistics.median(r["warm_up"] or 0.0 for r in results)
            first = statistics.median(r["first"] or 0.0 for r in results)
            second = statistics.median(r["second"] or 0.0 for r in results)
            label = "with warm-up" if warm else "without"
            print(f"{label:<16}{(f'{warm_up:.2f}' if warm else '-'):>18}{first:>12.2f}{second:>12.2f}"
                  f"   first/second {first / second:.1f}")


if __name__ == "__main__":
    main()
