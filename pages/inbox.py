"""Conversations: the agents' inbox. Waiting for a human first, then the most recent; the thread;
a reply while the 24-hour window is open (a template otherwise); take it, mark it handled."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core import db, inbox, labels, messaging, templates, users
from core.models import Contact, ConversationStatus
from core.text import as_text
from core.timeutil import format_dt
from pages import _shell

user, can_edit = _shell.require("inbox")
_shell.header("inbox", "Les conversations avec les assurés : celles qui attendent un agent d'abord, puis les plus "
                       "récentes.")

SCOPES = {"open": "À traiter", "waiting": "En attente d'un agent", "mine": "Mes conversations", "all": "Toutes"}
AVATARS = {"contact": ":material/person:", "bot": ":material/smart_toy:", "agent": ":material/support_agent:",
           "campaign": ":material/campaign:", "system": ":material/info:"}


def act(action, conversation_id: int, *args) -> bool:  # noqa: ANN001, ANN002
    """Run one inbox action in its own transaction; a refusal is shown in French."""
    return bool(_shell.act(lambda s: action(s, inbox.get(s, conversation_id), *args, _shell.me(s))))


@st.fragment(run_every=timedelta(seconds=10))
def waiting_figures() -> None:
    if not _shell.still_allowed("inbox"):  # disabled, reset or moved to another role meanwhile
        return
    with db.session_scope() as session:
        figures = inbox.counts(session, user.id)
    c1, c2 = st.columns(2)
    c1.metric("En attente d'un agent", figures["waiting"])
    c2.metric("Mes conversations ouvertes", figures["mine"])


def message_block(message) -> None:  # noqa: ANN001
    role = "user" if message.direction == "inbound" else "assistant"
    with st.chat_message(role, avatar=AVATARS.get(message.author)):
        who = labels.AUTHOR.get(message.author, message.author)
        status = f" · {inbox.message_state(message)}" if message.direction == "outbound" and message.status else ""
        st.caption(as_text(f"{who} · {format_dt(message.created_at)}{status}"))
        st.markdown(as_text(message.text or ""))  # what a person wrote is shown as written
        if message.author == "bot" and message.sources:
            with st.expander(f"Sources utilisées ({len(message.sources)})"):
                for source in message.sources:
                    title = source.get("title") or source.get("document") or "Document"
                    page = f", page {source['page']}" if source.get("page") else ""
                    st.markdown(f"- **{as_text(title)}**{as_text(page)}"
                                + (f" — {as_text(source['excerpt'])}" if source.get("excerpt") else ""))


@st.fragment(run_every=timedelta(seconds=5))
def thread_view(conversation_id: int) -> None:
    """The messages, refreshed: new questions come in, and what was sent moves from « en attente
    d'envoi » to « envoyé » (or « échec », with its reason) once the outbox has sent it."""
    if not _shell.still_allowed("inbox"):  # disabled, reset or moved to another role meanwhile
        return
    with db.session_scope() as session:
        messages = inbox.thread(session, inbox.get(session, conversation_id))
    for message in messages:
        message_block(message)
    if not messages:
        st.info("Aucun message dans cette conversation.")


def conversation(conversation_id: int) -> None:
    with db.session_scope() as session:
        conv = inbox.get(session, conversation_id)
        contact = session.get(Contact, conv.contact_id)
        window = messaging.window_open(contact)
        approved = {t.id: f"{t.name} ({t.language})" for t in templates.approved(session)}
        agent = users.get(session, conv.assigned_to).name if conv.assigned_to else None
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or "Contact sans nom"
    st.subheader(as_text(f"{name} — {contact.phone}"))
    details = [labels.CONVERSATION_STATUS[ConversationStatus(conv.status)]]
    if conv.handoff_reason and conv.status != ConversationStatus.BOT:
        details.append(f"transmise à un agent : {labels.HANDOFF_REASON.get(conv.handoff_reason, conv.handoff_reason)}")
    if agent:
        details.append(f"suivie par {agent}")
    details.append(f"fenêtre de 24 h ouverte jusqu'au {format_dt(contact.window_expires_at)}" if window
                   else "fenêtre de 24 h fermée")
    if contact.consent_status == "opted_out":
        details.append("désinscrit")
    st.caption(as_text(" · ".join(details)))

    thread_view(conversation_id)

    if not can_edit:
        return
    c1, c2 = st.columns(2)
    if conv.status != ConversationStatus.CLOSED and (conv.assigned_to != user.id or conv.status != "agent"):
        if c1.button("Prendre en charge", key=f"take_{conversation_id}", icon=":material/front_hand:"):
            if act(inbox.assign_to_me, conversation_id):
                st.rerun()
    if conv.status != ConversationStatus.CLOSED:
        if c2.button("Marquer comme traitée", key=f"done_{conversation_id}", icon=":material/task_alt:"):
            if act(inbox.mark_handled, conversation_id):
                st.toast("Conversation marquée comme traitée.")
                st.rerun()

    if contact.consent_status == "opted_out":
        st.warning("Cette personne s'est désinscrite : aucun message ne peut lui être envoyé.")
    elif window:
        with st.form(f"reply_{conversation_id}", clear_on_submit=True):
            text = st.text_area("Votre réponse", key=f"reply_text_{conversation_id}", max_chars=4096)
            if st.form_submit_button("Envoyer", type="primary"):
                if act(inbox.reply, conversation_id, text):
                    st.rerun()
    else:
        st.info("La fenêtre de 24 heures est fermée : WhatsApp n'accepte plus de texte libre. Seul un modèle approuvé "
                "peut relancer la personne ; sa réponse rouvrira la fenêtre.")
        if approved:
            options = list(approved)
            chosen = st.selectbox("Modèle à envoyer", options, format_func=approved.get, key=f"tpl_{conversation_id}")
            if st.button("Envoyer le modèle", key=f"send_tpl_{conversation_id}"):
                if act(inbox.send_template, conversation_id, chosen):
                    st.success("Modèle enregistré : il part dans un instant, son état s'affiche dans la conversation.")
        else:
            st.caption("Aucun modèle approuvé n'est disponible.")


# --- screen ------------------------------------------------------------------------------------

waiting_figures()
c1, c2 = st.columns([2, 3])
scope = c1.radio("Afficher", list(SCOPES), format_func=SCOPES.get, horizontal=True, key="inbox_scope")
search = c2.text_input("Rechercher une personne (nom ou numéro)", key="inbox_search")
with db.session_scope() as session:
    rows = inbox.list_conversations(session, scope=scope, user_id=user.id, search=search)
if not rows:
    st.info("Aucune conversation ici pour l'instant.")
    st.stop()
titles = {r.id: f"{'🔴 ' if r.status == 'waiting_agent' else ''}{r.contact_name} — "
                f"{labels.CONVERSATION_STATUS[ConversationStatus(r.status)]} — {format_dt(r.last_message_at)} — "
                f"{r.preview[:60]}" for r in rows}
chosen = st.selectbox(f"Conversations ({len(rows)})", list(titles), format_func=titles.get, key="inbox_choice")
conversation(chosen)
