"""Streamlit AppTest helpers: a seeded database and a signed-in session for a role."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import db, demo, users
from core.timeutil import utcnow

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
ROLE_EMAILS = {"admin": "admin@cnss.ga", "manager": "communication@cnss.ga",
               "supervisor": "superviseur@cnss.ga", "agent": "agent@cnss.ga"}


@pytest.fixture
def seeded(sqlite_url: str) -> dict[str, int]:
    """The demo data set (small) and the id of each role's demo user."""
    with db.session_scope() as session:
        result = demo.seed(session, contacts=300)
    with db.session_scope() as session:
        ids = {role: users.get_by_email(session, email).id for role, email in ROLE_EMAILS.items()}
    ids["_passwords"] = {u["role"]: u["password"] for u in result.users}  # type: ignore[assignment]
    return ids


def app_as(user_id: int | None, *, last_seen: datetime | None = None, script: str = APP) -> AppTest:
    at = AppTest.from_file(script, default_timeout=60)
    if user_id is not None:
        at.session_state["user_id"] = user_id
        at.session_state["last_seen"] = last_seen or utcnow()
    return at
