"""The command line: each subcommand, its --json output, and its errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, dict, str]:  # noqa: ANN001
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in argv and out.strip() else {}), err


def test_db_upgrade_json(db_url, capsys) -> None:  # noqa: ANN001
    code, data, _ = run(capsys, "db", "upgrade", "--json")
    from core import db

    head = db.head_revision()
    assert code == 0 and data == {"from": head, "to": head, "changed": False}


def test_users_lifecycle(db_url, capsys, monkeypatch) -> None:  # noqa: ANN001
    code, data, _ = run(capsys, "users", "create", "--email", "Chef@cnss.ga", "--name", "Chef", "--role", "admin",
                        "--password-stdin", "--json", stdin="Secret-CNSS-2026\n", monkeypatch=monkeypatch)
    assert code == 0 and data["email"] == "chef@cnss.ga" and data["role"] == "admin" and data["active"]
    monkeypatch.setenv("CNSS_NEW_PASSWORD", "Autre-Secret-2026")
    code, data, _ = run(capsys, "users", "create", "--email", "agent@cnss.ga", "--name", "Agent", "--role", "agent",
                        "--json")
    assert code == 0 and data["role"] == "agent"
    code, data, _ = run(capsys, "users", "list", "--json")
    assert code == 0 and data["count"] == 2 and {u["email"] for u in data["users"]} == {"chef@cnss.ga", "agent@cnss.ga"}
    code, data, _ = run(capsys, "users", "disable", "agent@cnss.ga", "--json")
    assert code == 0 and data["active"] is False
    code, data, _ = run(capsys, "users", "enable", "agent@cnss.ga", "--json")
    assert code == 0 and data["active"] is True
    code, data, _ = run(capsys, "users", "reset-password", "agent@cnss.ga", "--json")
    assert code == 0 and data["email"] == "agent@cnss.ga"
    code, _, out_text = run(capsys, "users", "list")
    assert code == 0


def test_user_errors(db_url, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("CNSS_NEW_PASSWORD", raising=False)
    code, data, err = run(capsys, "users", "create", "--email", "a@cnss.ga", "--name", "A", "--role", "agent", "--json")
    assert code == 1 and "password" in data["error"] and "error:" in err
    monkeypatch.setenv("CNSS_NEW_PASSWORD", "court")
    code, data, _ = run(capsys, "users", "create", "--email", "a@cnss.ga", "--name", "A", "--role", "agent", "--json")
    assert code == 1 and "au moins 10" in data["error"]
    code, data, _ = run(capsys, "users", "disable", "absent@cnss.ga", "--json")
    assert code == 1 and "Aucun utilisateur" in data["error"]


@pytest.mark.parametrize("argv", [
    ["users", "create", "--email", "a@cnss.ga", "--name", "A", "--role", "chef"],
    ["users", "create", "--name", "A", "--role", "agent"],
    ["users"],
    ["nothing"],
    ["demo", "seed", "--contacts", "beaucoup"],
])
def test_bad_arguments_exit_2(argv, sqlite_url, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_demo_seed_json(db_url, capsys) -> None:  # noqa: ANN001
    code, data, _ = run(capsys, "demo", "seed", "--contacts", "300", "--json")
    assert code == 0 and data["seeded"] and data["contacts"] == 300 and len(data["users"]) == 4
    assert all(len(u["password"]) >= 10 for u in data["users"])
    assert data["kb_documents_added"] == 6  # the demo knowledge base, indexed
    code, data, _ = run(capsys, "demo", "seed", "--contacts", "300", "--json")
    assert code == 0 and not data["seeded"] and data["users"] == [] and data["kb_documents_added"] == 0


def test_real_entry_point_and_password_not_logged(tmp_path) -> None:  # noqa: ANN001
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", CNSS_NEW_PASSWORD="Secret-Entry-2026")
    proc = subprocess.run([sys.executable, "-m", "core", "users", "create", "--email", "x@cnss.ga", "--name", "X",
                           "--role", "manager", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["email"] == "x@cnss.ga"
    assert "Secret-Entry-2026" not in proc.stdout + proc.stderr
