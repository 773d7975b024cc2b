"""User accounts: validation, uniqueness, disable and re-enable, password reset, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import auth, users
from core.errors import NotFound, UserError
from core.models import AuditLog
from core.timeutil import utcnow
from tests.factories import PASSWORD, make_user


@pytest.mark.parametrize("email, name, role, password, message", [
    ("pas-un-email", "Awa", "agent", PASSWORD, "Adresse e-mail invalide"),
    ("a@cnss.ga", "   ", "agent", PASSWORD, "Le nom est obligatoire"),
    ("a@cnss.ga", "Awa", "chef", PASSWORD, "Rôle inconnu"),
    ("a@cnss.ga", "Awa", "agent", "court", "au moins 10"),
])
def test_create_validates_every_field(session, email, name, role, password, message) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=message):
        users.create(session, email=email, name=name, role=role, password=password)
    assert session.scalars(select(AuditLog)).all() == []


def test_create_normalizes_and_audits(session) -> None:  # noqa: ANN001
    admin = make_user(session, "admin")
    user = users.create(session, email=" Awa.Nguema@CNSS.ga ", name="  Awa   Nguema ", role="agent",
                        password=PASSWORD, actor=admin)
    assert user.email == "awa.nguema@cnss.ga" and user.name == "Awa Nguema"
    entry = session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert (entry.action, entry.actor_id, entry.target_id) == ("user_created", admin.id, str(user.id))
    with pytest.raises(UserError, match="existe déjà"):
        users.create(session, email="AWA.nguema@cnss.ga", name="Autre", role="agent", password=PASSWORD)


def test_disable_and_enable(session) -> None:  # noqa: ANN001
    admin = make_user(session, "admin")
    agent = make_user(session, "agent")
    users.disable(session, agent, actor=admin)
    assert not agent.is_active
    with pytest.raises(UserError, match="déjà désactivé"):
        users.disable(session, agent, actor=admin)
    users.enable(session, agent, actor=admin)
    assert agent.is_active
    with pytest.raises(UserError, match="déjà actif"):
        users.enable(session, agent, actor=admin)
    acts = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert acts[-2:] == ["user_disabled", "user_enabled"]


def test_the_last_admin_and_oneself_cannot_be_disabled(session) -> None:  # noqa: ANN001
    admin = make_user(session, "admin")
    with pytest.raises(UserError, match="propre compte"):
        users.disable(session, admin, actor=admin)
    with pytest.raises(UserError, match="dernier administrateur"):
        users.disable(session, admin)
    with pytest.raises(UserError, match="dernier administrateur"):
        users.change_role(session, admin, "agent")
    other = make_user(session, "admin", email="second@test.cnss.ga")
    users.disable(session, other, actor=admin)
    assert not other.is_active


def test_reset_password_unlocks(session) -> None:  # noqa: ANN001
    agent = make_user(session, "agent")
    agent.locked_until = utcnow() + timedelta(minutes=10)
    users.reset_password(session, agent, "Nouveau-Mot-2027")
    assert agent.locked_until is None
    assert auth.authenticate(session, agent.email, "Nouveau-Mot-2027").ok
    assert not auth.authenticate(session, agent.email, PASSWORD).ok


def test_lookup_errors_are_french(session) -> None:  # noqa: ANN001
    with pytest.raises(NotFound, match="Aucun utilisateur"):
        users.get_by_email(session, "x@y.ga")
    with pytest.raises(NotFound, match="introuvable"):
        users.get(session, 42)


def test_generated_passwords_pass_the_policy() -> None:
    for _ in range(50):
        auth.check_password_policy(users.generate_password())
