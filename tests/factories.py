"""Small helpers that create real rows for tests."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import users
from core.models import Campaign, Template, User

PASSWORD = "Bonjour-CNSS-2026"


def make_user(session: Session, role: str = "admin", email: str | None = None, password: str = PASSWORD) -> User:
    email = email or f"{role}@test.cnss.ga"
    user = users.create(session, email=email, name=f"Test {role}", role=role, password=password)
    session.flush()
    return user


def make_campaign(session: Session, name: str = "Campagne test", template_name: str = "rappel") -> Campaign:
    """A draft campaign on an approved one-variable template."""
    template = session.scalar(select(Template).where(Template.name == template_name))
    if template is None:
        template = Template(name=template_name, category="UTILITY", status="APPROVED", body="Bonjour {{1}}")
        session.add(template)
        session.flush()
    campaign = Campaign(name=name, template_id=template.id)
    session.add(campaign)
    session.flush()
    return campaign
