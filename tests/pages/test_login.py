"""Sign-in, lockout, expiry and sign-out through the real app."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import db
from core.models import AuditLog, User
from core.timeutil import utcnow
from tests.pages.conftest import app_as


def sign_in(at, email: str, password: str):  # noqa: ANN001, ANN201
    at.text_input(key="login_email").input(email)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    return at.run()


def test_sign_in_then_sign_out(seeded) -> None:  # noqa: ANN001
    at = app_as(None).run()
    assert [t.value for t in at.title] == ["CNSS WhatsApp"]
    at = sign_in(at, "agent@cnss.ga", seeded["_passwords"]["agent"])
    assert not at.exception
    assert [t.value for t in at.title] == ["Accueil"]
    at = app_as(seeded["agent"]).run()  # AppTest re-runs only the page after a sign-in rerun
    assert "Agent" in at.sidebar.markdown[0].value
    at.sidebar.button(key="sign_out").click().run()
    assert "user_id" not in at.session_state
    assert not at.title  # the screen is gone: nothing is shown without a session
    with db.session_scope() as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-2:] == ["login", "logout"]


def test_wrong_password_then_lockout(seeded) -> None:  # noqa: ANN001
    at = app_as(None).run()
    from core import auth

    for _ in range(5):
        at = sign_in(at, "agent@cnss.ga", "Mauvais-mot-2026")
        assert [e.value for e in at.error] == [auth.GENERIC_FAILURE]
    at = sign_in(at, "agent@cnss.ga", seeded["_passwords"]["agent"])  # the right password, now locked
    assert [e.value for e in at.error] == [auth.GENERIC_FAILURE]  # the same words: nothing to enumerate
    assert [t.value for t in at.title] == ["CNSS WhatsApp"]


def test_expired_session_returns_to_sign_in_with_a_message(seeded) -> None:  # noqa: ANN001
    at = app_as(seeded["manager"], last_seen=utcnow() - timedelta(hours=2)).run()
    assert [t.value for t in at.title] == ["CNSS WhatsApp"]
    assert any("expiré" in i.value for i in at.info)
    assert "user_id" not in at.session_state


def test_disabled_user_is_signed_out_on_next_action(seeded) -> None:  # noqa: ANN001
    at = app_as(seeded["agent"]).run()
    assert [t.value for t in at.title] == ["Accueil"]
    with db.session_scope() as session:
        session.get(User, seeded["agent"]).is_active = False
    at.run()
    assert not at.title and "user_id" not in at.session_state
    assert [e.value for e in at.error] == ["Votre compte a été désactivé. Contactez un administrateur."]


def test_failures_from_one_address_are_throttled_on_screen(seeded, monkeypatch) -> None:  # noqa: ANN001
    """The sign-in screen passes the browser's address: after three failures from it, the next
    attempt is refused with the time to wait, in French, and the account is not touched."""
    from core import auth
    from pages import _shell

    monkeypatch.setattr(_shell, "client_source", lambda: "192.0.2.44")
    at = app_as(None).run()
    for _ in range(3):
        at = sign_in(at, "inconnu@cnss.ga", "Mauvais-mot-2026")
        assert [e.value for e in at.error] == [auth.GENERIC_FAILURE]
    at = sign_in(at, "agent@cnss.ga", seeded["_passwords"]["agent"])
    assert [e.value for e in at.error] == ["Trop de tentatives de connexion depuis ce poste. Réessayez dans 1 seconde."]
    with db.session_scope() as session:
        assert session.get(User, seeded["agent"]).failed_logins == 0
