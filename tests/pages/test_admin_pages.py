"""The administrators' screens do what they say."""

from __future__ import annotations

from sqlalchemy import select

from core import auth, db
from core.models import AuditLog, User
from tests.pages.conftest import app_as


def users_page(admin_id: int):  # noqa: ANN201
    at = app_as(admin_id).run()
    return at.switch_page("pages/users.py").run()


def test_admin_creates_a_user_with_a_generated_password(seeded) -> None:  # noqa: ANN001
    at = users_page(seeded["admin"])
    at.text_input[0].input("nouvel.agent@cnss.ga")
    at.text_input[1].input("Nouvel Agent")
    at.selectbox[0].select("agent")
    at.button(key="FormSubmitter:create_user-Créer le compte").click().run()
    assert not at.exception and not at.error
    password = at.code[0].value
    with db.session_scope() as session:
        assert auth.authenticate(session, "nouvel.agent@cnss.ga", password).ok
        created = session.scalar(select(AuditLog).where(AuditLog.action == "user_created")
                                 .order_by(AuditLog.id.desc()))
        assert created.actor_id == seeded["admin"]


def test_bad_user_input_is_explained_in_french(seeded) -> None:  # noqa: ANN001
    at = users_page(seeded["admin"])
    at.text_input[0].input("pas-un-email")
    at.text_input[1].input("X")
    at.button(key="FormSubmitter:create_user-Créer le compte").click().run()
    assert [e.value for e in at.error] == ["Adresse e-mail invalide : « pas-un-email »."]


def test_admin_disables_and_reenables_a_user(seeded) -> None:  # noqa: ANN001
    at = users_page(seeded["admin"])
    at.selectbox(key="manage_user").select(seeded["agent"]).run()
    next(b for b in at.button if b.label == "Désactiver").click().run()
    with db.session_scope() as session:
        assert session.get(User, seeded["agent"]).is_active is False
    next(b for b in at.button if b.label == "Réactiver").click().run()
    with db.session_scope() as session:
        assert session.get(User, seeded["agent"]).is_active is True


def test_admin_cannot_disable_self(seeded) -> None:  # noqa: ANN001
    at = users_page(seeded["admin"])
    at.selectbox(key="manage_user").select(seeded["admin"]).run()
    next(b for b in at.button if b.label == "Désactiver").click().run()
    assert [e.value for e in at.error] == ["Vous ne pouvez pas désactiver votre propre compte."]


def test_reset_password_shows_it_once(seeded) -> None:  # noqa: ANN001
    at = users_page(seeded["admin"])
    at.selectbox(key="manage_user").select(seeded["agent"]).run()
    next(b for b in at.button if b.label == "Réinitialiser le mot de passe").click().run()
    password = at.code[0].value
    with db.session_scope() as session:
        assert auth.authenticate(session, "agent@cnss.ga", password).ok
    at.run()
    assert not at.code  # gone on the next run


def test_audit_log_lists_and_filters(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        auth.authenticate(session, "agent@cnss.ga", "Mauvais-mot-2026")
    at = users_page(seeded["admin"])
    table = at.dataframe[1].value
    assert "Échec de connexion" in set(table["Action"])
    at.selectbox(key="audit_action").select("login_failed").run()
    table = at.dataframe[1].value
    assert set(table["Action"]) == {"Échec de connexion"} and set(table["Qui"]) == {"agent@cnss.ga"}


def test_settings_never_show_secrets(seeded, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("RESPONDIO_API_TOKEN", "tok-very-secret-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-456")
    from core.config import reload_settings

    reload_settings()
    at = app_as(seeded["admin"]).run()
    at.switch_page("pages/settings.py").run()
    text = str(at.table[0].value)
    assert "Respond.io" in text and "Modèle de langage" in text
    assert "very-secret" not in text and not any("bac à sable" in w.value for w in at.warning)


def test_a_new_user_is_an_agent_unless_the_administrator_chooses_more(seeded) -> None:  # noqa: ANN001
    from core import users

    at = users_page(seeded["admin"])
    assert at.selectbox[0].value == "agent"  # the least privileged role by default
    at.text_input[0].input("nouvelle.recrue@cnss.ga")
    at.text_input[1].input("Nouvelle Recrue")
    at.button(key="FormSubmitter:create_user-Créer le compte").click().run()
    assert not at.exception and not at.error
    with db.session_scope() as session:
        assert users.get_by_email(session, "nouvelle.recrue@cnss.ga").role == "agent"


def test_admin_unlocks_a_locked_account_with_one_button(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        for _ in range(6):  # more wrong passwords than allowed: locked
            auth.authenticate(session, "agent@cnss.ga", "pas-le-bon-mot-de-passe")
    password = seeded["_passwords"]["agent"]
    with db.session_scope() as session:
        assert not auth.authenticate(session, "agent@cnss.ga", password).ok
    at = users_page(seeded["admin"])
    at.selectbox(key="manage_user").select(seeded["agent"]).run()
    next(b for b in at.button if b.label == "Déverrouiller").click().run()
    with db.session_scope() as session:
        assert auth.authenticate(session, "agent@cnss.ga", password).ok
        actions = session.scalars(select(AuditLog.action).where(AuditLog.action == "user_unlocked")).all()
    assert actions == ["user_unlocked"]
    at.selectbox(key="manage_user").select(seeded["agent"]).run()
    assert not [b for b in at.button if b.label == "Déverrouiller"]  # only for a locked account


def test_every_role_changes_its_own_password(seeded) -> None:  # noqa: ANN001
    for role in ("admin", "manager", "supervisor", "agent"):
        old = seeded["_passwords"][role]
        at = app_as(seeded[role]).run()
        at.text_input(key="own_pw_current").input("pas-le-bon-mot-de-passe")
        at.text_input(key="own_pw_new").input("Nouveau-Secret-2026")
        at.text_input(key="own_pw_again").input("Nouveau-Secret-2026")
        at.button[[b.label for b in at.button].index("Changer le mot de passe")].click().run()
        assert [e.value for e in at.error] == ["Le mot de passe actuel est incorrect."]
        at.text_input(key="own_pw_current").input(old)
        at.text_input(key="own_pw_new").input("Nouveau-Secret-2026")
        at.text_input(key="own_pw_again").input("Nouveau-Secret-2026")
        at.button[[b.label for b in at.button].index("Changer le mot de passe")].click().run()
        assert any("Mot de passe changé" in s.value for s in at.success), [e.value for e in at.error]
        at.run()
        assert at.text_input(key="own_pw_current")  # this session goes on
        with db.session_scope() as session:
            email = session.get(User, seeded[role]).email
            assert auth.authenticate(session, email, "Nouveau-Secret-2026").ok
            assert not auth.authenticate(session, email, old).ok
