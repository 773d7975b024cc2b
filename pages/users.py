"""Utilisateurs et audit: accounts of CNSS staff and the audit trail (administrators only)."""

import pandas as pd
import streamlit as st

from core import audit, db, labels, users
from core.models import Role
from core.text import as_text
from core.timeutil import format_dt, utcnow
from pages import _shell

admin, _ = _shell.require("users")
_shell.header("users", "Comptes des agents de la CNSS, leurs rôles, et le journal de qui a fait quoi et quand.")

ROLES = [r.value for r in Role]
PAGE_SIZE = 50


def show_new_password(email: str, password: str) -> None:
    st.success(f"Mot de passe de {email} (affiché une seule fois, transmettez-le de façon sûre) :")
    st.code(password, language=None)


def users_table() -> list:
    with db.session_scope() as session:
        accounts = users.list_all(session)
    now = utcnow()
    _shell.table(
        pd.DataFrame([{
            "Nom": u.name,
            "E-mail": u.email,
            "Rôle": labels.ROLE[u.role],
            "Statut": "Actif" if u.is_active else "Désactivé",
            "Verrouillé jusqu'à": format_dt(u.locked_until) if u.locked_until and u.locked_until > now else "",
            "Dernière connexion": format_dt(u.last_login_at),
        } for u in accounts]),
        hide_index=True, width="stretch",
    )
    return accounts


def create_form() -> None:
    with st.form("create_user", clear_on_submit=True):
        st.markdown("**Créer un utilisateur**")
        c1, c2, c3 = st.columns(3)
        email = c1.text_input("Adresse e-mail")
        name = c2.text_input("Nom complet")
        # The least privileged role by default: an administrator chooses more, knowingly.
        role = c3.selectbox("Rôle", ROLES, index=ROLES.index(Role.AGENT.value), format_func=labels.ROLE.get)
        password = st.text_input("Mot de passe (laisser vide pour en générer un)", type="password")
        if st.form_submit_button("Créer le compte", type="primary"):
            generated = not password
            password = password or users.generate_password()
            done = _shell.act(lambda s: users.create(s, email=email, name=name, role=role, password=password,
                                                     actor=_shell.me(s)).email)
            if done:
                created_email = done.value
                st.toast(f"Compte {as_text(created_email)} créé.")
                if generated:
                    show_new_password(created_email, password)


def manage_form(accounts: list) -> None:
    st.markdown("**Modifier un compte**")
    by_id = {u.id: u for u in accounts}
    # Options are ids in a stable order, so the selection stays on the same person after a change.
    options = sorted(by_id, key=lambda i: by_id[i].email)
    chosen_id = st.selectbox("Compte", options, format_func=lambda i: f"{by_id[i].name} — {by_id[i].email}",
                             key="manage_user")
    if chosen_id is None:
        return
    choice = by_id[chosen_id]
    c1, c2, c3 = st.columns(3)
    new_role = c1.selectbox("Nouveau rôle", ROLES, index=ROLES.index(choice.role), format_func=labels.ROLE.get)

    def act(label: str, fn, *args) -> None:  # noqa: ANN001
        if _shell.act(lambda s: fn(s, users.get(s, choice.id), *args, actor=_shell.me(s))):
            st.toast(label)
            st.rerun()

    if c1.button("Changer le rôle", disabled=new_role == choice.role):
        act("Rôle modifié.", users.change_role, new_role)
    if choice.is_active:
        if c2.button("Désactiver", type="secondary"):
            act(f"Compte {choice.email} désactivé.", users.disable)
    elif c2.button("Réactiver"):
        act(f"Compte {choice.email} réactivé.", users.enable)
    if choice.locked_until is not None and choice.locked_until > utcnow():
        if c2.button("Déverrouiller", icon=":material/lock_open:",
                     help=f"Verrouillé jusqu'au {format_dt(choice.locked_until)} après des échecs de connexion."):
            act(f"Compte {choice.email} déverrouillé.", users.unlock)
    if c3.button("Réinitialiser le mot de passe"):
        password = users.generate_password()
        if _shell.act(lambda s: users.reset_password(s, users.get(s, choice.id), password, actor=_shell.me(s))):
            show_new_password(choice.email, password)


def audit_tab() -> None:
    c1, c2 = st.columns(2)
    actions = [""] + sorted(labels.AUDIT_ACTION)
    action = c1.selectbox("Action", actions, format_func=lambda a: "Toutes" if not a else audit.label(a),
                          key="audit_action")
    who = c2.text_input("Utilisateur (e-mail contient)", key="audit_who")
    page_no = st.session_state.get("audit_page", 0)
    with db.session_scope() as session:
        result = audit.list_entries(session, action=action or None, actor_email=who or None,
                                    limit=PAGE_SIZE, offset=page_no * PAGE_SIZE)
    st.caption(f"{result.total} entrée(s) — heures de Libreville")
    if not result.rows:
        st.info("Aucune entrée ne correspond à ces filtres.")
        return
    _shell.table(pd.DataFrame([{
        "Date": format_dt(e.at, with_seconds=True),
        "Qui": e.actor_email or "",
        "Action": audit.label(e.action),
        "Cible": f"{e.target_type} #{e.target_id}" if e.target_type else "",
        "Détails": ", ".join(f"{k} : {v}" for k, v in (e.details or {}).items()),
    } for e in result.rows]), hide_index=True, width="stretch")
    pages = max(1, -(-result.total // PAGE_SIZE))
    c1, c2, c3 = st.columns([1, 2, 1])
    if c1.button("← Plus récentes", disabled=page_no == 0):
        st.session_state["audit_page"] = page_no - 1
        st.rerun()
    c2.caption(f"Page {page_no + 1} sur {pages}")
    if c3.button("Plus anciennes →", disabled=page_no + 1 >= pages):
        st.session_state["audit_page"] = page_no + 1
        st.rerun()


tab_users, tab_audit = st.tabs(["Utilisateurs", "Journal d'audit"])
with tab_users:
    accounts = users_table()
    create_form()
    manage_form(accounts)
with tab_audit:
    audit_tab()
