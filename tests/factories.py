"""Small helpers that create real rows for tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import users
from core.models import User

PASSWORD = "Bonjour-CNSS-2026"


def make_user(session: Session, role: str = "admin", email: str | None = None, password: str = PASSWORD) -> User:
    email = email or f"{role}@test.cnss.ga"
    user = users.create(session, email=email, name=f"Test {role}", role=role, password=password)
    session.flush()
    return user
