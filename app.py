"""CNSS WhatsApp: sign-in gate, navigation built for the user's role, shared layout."""

from __future__ import annotations

import streamlit as st

from core import auth, db, permissions
from core.logs import setup_logging
from pages import _shell

st.set_page_config(page_title="CNSS WhatsApp", page_icon=_shell.favicon(), layout="wide")
setup_logging()
_shell.ensure_schema()
_shell.start_background()
_shell.french_chrome()


def login_screen() -> None:
    left, middle, right = st.columns([1, 2, 1])
    with middle:
        st.title("CNSS WhatsApp")
        st.caption("Caisse Nationale de Sécurité Sociale du Gabon — communication avec les assurés")
        flash = st.session_state.get(_shell.FLASH_KEY)  # kept until the next sign-in: several timers may rerun
        if flash:
            st.info(flash)
        with st.form("login"):
            email = st.text_input("Adresse e-mail", key="login_email")
            password = st.text_input("Mot de passe", type="password", key="login_password")
            submitted = st.form_submit_button("Se connecter", type="primary", width="stretch")
        if submitted:
            with db.session_scope() as session:
                result = auth.authenticate(session, email, password, source=_shell.client_source())
                user_id = result.user.id if result.ok and result.user else None
            if user_id is not None:
                _shell.sign_in(user_id)
                st.rerun()
            st.error(result.message)
        st.caption("Pas de compte ? Demandez-en un à l'administrateur de l'application.")


def refused_screen() -> None:
    _shell.account_box(user)
    st.error("Accès refusé : votre rôle ne permet pas d'ouvrir cet écran.")
    st.caption("Les écrans auxquels vous avez accès sont dans le menu à gauche.")


def hidden(screen, key: str) -> st.Page:  # type: ignore[no-untyped-def]
    """A page that only answers its address: a link or a bookmark to a screen lands on the sign-in
    (signed out) or on a refusal in French (a role that may not open it), never on Streamlit's
    English 'page not found'. The screen's own file is never run for such a user."""
    return st.Page(screen, title=permissions.PAGES_BY_KEY[key].title, url_path=key, visibility="hidden")


def main() -> None:
    global user
    user = _shell.current_user()
    if user is None:
        signed_out()
    signed_in(user)


def signed_out() -> None:
    login = st.Page(login_screen, title="Connexion", icon=":material/login:", default=True)
    page = st.navigation([login, *(hidden(login_screen, s.key) for s in permissions.PAGES if s.key != "home")],
                         position="hidden")
    page.run()
    st.stop()


def signed_in(user: _shell.CurrentUser) -> None:
    sections: dict[str, list[st.Page]] = {}
    for spec in permissions.pages_for(user.role):
        sections.setdefault(spec.section, []).append(
            st.Page(spec.file, title=spec.title, icon=spec.icon, url_path=spec.key, default=spec.key == "home")
        )
    refused = [hidden(refused_screen, s.key) for s in permissions.PAGES if not s.can_open(user.role)]
    if refused:
        sections.setdefault("Général", []).extend(refused)
    st.navigation(sections).run()


user: _shell.CurrentUser | None = None
try:
    main()
except Exception:  # noqa: BLE001 - st.stop and st.rerun are not Exceptions: they pass
    _shell.unexpected_error()
