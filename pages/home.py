"""Accueil: who is signed in and the state of the service at a glance."""

import streamlit as st

from core import db, fmt, overview, permissions, users
from core.text import as_text
from pages import _shell

user, _ = _shell.require("home")
_shell.header("home", "Vue d'ensemble du service de messagerie WhatsApp de la CNSS.")

st.subheader(f"Bonjour {as_text(user.name)}")
st.write(f"Vous êtes connecté en tant que **{user.role_label}**.")

with db.session_scope() as session:
    figures = overview.summary(session)

cols = st.columns(4)
cols[0].metric("Contacts", fmt.number(figures.contacts))
cols[1].metric("Consentement donné", fmt.number(figures.opted_in))
cols[2].metric("Désinscrits", fmt.number(figures.opted_out))
cols[3].metric("Modèles approuvés", fmt.number(figures.approved_templates))
cols = st.columns(4)
cols[0].metric("Campagnes en cours", fmt.number(figures.campaigns_running))
cols[1].metric("Campagnes programmées", fmt.number(figures.campaigns_scheduled))
cols[2].metric("Campagnes terminées", fmt.number(figures.campaigns_completed))
cols[3].metric("Conversations en attente d'un agent", fmt.number(figures.conversations_waiting))

st.markdown("#### Vos écrans")
for spec in permissions.pages_for(user.role):
    if spec.key != "home":
        mode = "" if spec.can_edit(user.role) else " (consultation)"
        st.page_link(spec.file, label=f"{spec.title}{mode}", icon=spec.icon)

st.markdown("#### Mon compte")
with st.expander("Changer mon mot de passe", icon=":material/password:"):
    with st.form("own_password", clear_on_submit=True):
        current = st.text_input("Mot de passe actuel", type="password", key="own_pw_current")
        new = st.text_input("Nouveau mot de passe", type="password", key="own_pw_new",
                            help="Au moins 10 caractères. Vos autres sessions ouvertes seront fermées.")
        again = st.text_input("Nouveau mot de passe, une seconde fois", type="password", key="own_pw_again")
        if st.form_submit_button("Changer le mot de passe"):
            if new != again:
                st.error("Les deux saisies du nouveau mot de passe diffèrent.")
            else:
                if _shell.act(lambda s: users.change_own_password(s, _shell.me(s), current, new)):
                    _shell.sign_in(user.id)  # this session goes on; the others end at their next action
                    st.success("Mot de passe changé. Vos autres sessions ouvertes sont fermées.")
