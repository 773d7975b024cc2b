"""`python -m rag ingest` and `ask` with --json, as an operator runs them (real entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'rag.db'}", DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_ingest_then_ask_in_json(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "notes.exe").write_bytes(b"MZ")
    proc = run(tmp_path, "ingest", str(ROOT / "rag" / "corpus"), str(tmp_path / "notes.exe"), "--json")
    assert proc.returncode == 1, proc.stderr  # one file refused
    data = json.loads(proc.stdout)
    assert len(data["documents"]) == 6 and all(d["status"] == "created" for d in data["documents"])
    assert data["errors"][0]["file"] == "notes.exe" and "format" in data["errors"][0]["error"]
    proc = run(tmp_path, "ask", "Dans quel délai l'employeur déclare-t-il un accident du travail ?", "--json")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["refused"] is False and "48 heures" in answer["answer"]
    assert answer["sources"][0]["document"] == "accidents_travail.md"
    assert set(answer["sources"][0]) >= {"document", "chunk", "score"}
    proc = run(tmp_path, "ask", "Quelle est la capitale du Japon ?", "--json")
    assert json.loads(proc.stdout)["refused"] is True
    proc = run(tmp_path, "ingest", str(tmp_path / "absent.md"))
    assert proc.returncode == 2 and "introuvable" in proc.stderr
