"""Conversations: the agents' inbox. The list beside the open thread (waiting for an agent first,
then mine, then the others); the person's panel; replies while the 24-hour window is open (an
approved template otherwise), saved replies, taking, handing to a colleague or back to the chatbot.

The open conversation is kept by its id: taking it, replying, closing it or new messages arriving
never move the agent to another person. The list and the thread refresh on their own, without
touching what the agent is typing."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import streamlit as st

from core import db, inbox, labels, templates
from core.errors import NotFound, UserError
from core.models import ConversationStatus
from core.text import as_text
from core.timeutil import format_dt, utcnow
from pages import _shell

user, can_edit = _shell.require("inbox")
_shell.header("inbox", "Les conversations avec les assurés : celles qui attendent un agent d'abord, puis les vôtres, "
                       "puis les autres.", read_only=not can_edit)

SCOPES = {"open": "À traiter", "waiting": "En attente d'un agent", "mine": "Mes conversations", "all": "Toutes"}
AVATARS = {"contact": ":material/person:", "bot": ":material/smart_toy:", "agent": ":material/support_agent:",
           "campaign": ":material/campaign:", "system": ":material/info:"}
log = logging.getLogger("app.inbox")
OPEN_KEY = "inbox_open"  # the id of the conversation on screen
SEEN_KEY = "inbox_opened_by_click"  # the conversation the agent has just chosen: what it holds is read
NAME_LENGTH = 40  # a name longer than this is shortened in the list and the headings (the panel has it whole)


def act(action, conversation_id: int, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """Run one inbox action in its own transaction; a refusal is shown in French. Returns what the
    action returned, with the name of the person it acted on, or None."""
    st.session_state.pop("inbox_notice", None)
    done = _shell.act(lambda s: (action(s, inbox.get(s, conversation_id), *args, _shell.me(s), **kwargs),
                                 inbox.person_name(s, inbox.get(s, conversation_id))))
    return done.value if done else None


def short(name: str, length: int = NAME_LENGTH) -> str:
    return name if len(name) <= length else name[:length - 1].rstrip() + "…"


def confirm(message: str) -> None:
    """Shown above the thread after the rerun that follows the action (a toast would not survive it)."""
    st.session_state["inbox_notice"] = message
    st.rerun()


def age(moment: datetime | None) -> str:
    if moment is None:
        return ""
    minutes = int((utcnow() - moment).total_seconds() // 60)
    if minutes < 1:
        return "à l'instant"
    if minutes < 60:
        return f"il y a {minutes} min"
    if minutes < 24 * 60:
        return f"il y a {minutes // 60} h"
    return format_dt(moment)


# --- the list ----------------------------------------------------------------------------------

@st.fragment(run_every=timedelta(seconds=10))
@_shell.guarded
def waiting_figures() -> None:
    if not _shell.still_allowed("inbox"):  # disabled, reset or moved to another role meanwhile
        return
    with db.session_scope() as session:
        figures = inbox.counts(session, user.id)
        loads = inbox.loads(session) if not can_edit or user.role in ("admin", "manager") else []
    c1, c2 = st.columns(2)
    c1.metric("En attente d'un agent", figures["waiting"])
    if can_edit:
        c2.metric("Mes conversations ouvertes", figures["mine"])
    else:  # a supervisor holds none: how many the agents have in hand
        c2.metric("Prises en charge par un agent", sum(load.open for load in loads))
    if loads:
        with st.expander("Charge des agents", expanded=not can_edit):
            _shell.table([{"Agent": load.agent, "Conversations en cours": load.open,
                           "Messages non lus": load.unread} for load in loads], hide_index=True, width="stretch")


@st.fragment(run_every=timedelta(seconds=5))
@_shell.guarded
def conversation_list(scope: str, search: str) -> None:
    """One line per conversation; choosing one opens it by its id (the whole screen reruns)."""
    if not _shell.still_allowed("inbox"):
        return
    with db.session_scope() as session:
        rows = inbox.list_conversations(session, scope=scope, user_id=user.id, search=search)
        total = inbox.count_conversations(session, scope=scope, user_id=user.id, search=search) if rows else 0
    if not rows:
        st.info(as_text(f"Aucune conversation ne correspond à « {search.strip()} »." if search.strip()
                        else "Aucune conversation ici pour l'instant."))
        return
    if st.session_state.get(OPEN_KEY) is None:  # the first visit: the most urgent one
        st.session_state[OPEN_KEY] = rows[0].id
        st.rerun(scope="app")
    if total > len(rows):  # the most urgent are at the top; the rest is one search away
        st.caption(f"Les {_shell.nf(len(rows))} plus urgentes sur {_shell.nf(total)} : recherchez une personne "
                   "pour voir les autres.")
    else:
        st.caption(f"{_shell.nf(total)} conversation(s)")
    opened = st.session_state.get(OPEN_KEY)
    with st.container(height=720, border=False):
        for row in rows:
            conversation_line(row, opened)


def conversation_line(row: inbox.ConversationRow, opened: int | None) -> None:
    unread = f" · {row.unread} non lu(s)" if row.unread else ""
    holder = f" · {row.assigned_to}" if row.assigned_to and row.status == ConversationStatus.AGENT else ""
    icon = (":material/priority_high:" if row.status == ConversationStatus.WAITING_AGENT else
            ":material/support_agent:" if row.status == ConversationStatus.AGENT and row.assigned_to_id == user.id
            else ":material/smart_toy:" if row.status == ConversationStatus.BOT else ":material/chat:")
    if st.button(as_text(f"{short(row.contact_name)}{unread}"), key=f"open_{row.id}", width="stretch", icon=icon,
                 type="primary" if row.id == opened else "secondary",
                 help=f"{row.phone} — {labels.CONVERSATION_STATUS[ConversationStatus(row.status)]}"):
        st.session_state[OPEN_KEY] = st.session_state[SEEN_KEY] = row.id
        st.session_state.pop("inbox_notice", None)
        st.rerun(scope="app")
    st.caption(as_text(f"{labels.CONVERSATION_STATUS[ConversationStatus(row.status)]}{holder} · "
                       f"{age(row.last_message_at)} — {row.preview[:70]}"))


# --- the open conversation ---------------------------------------------------------------------

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
@_shell.guarded
def thread_view(conversation_id: int) -> None:
    """The messages, refreshed: new questions come in, and what was sent moves from « en attente
    d'envoi » to « envoyé » (or « échec », with its reason) once the outbox has sent it. What an
    agent has on screen is read."""
    if not _shell.still_allowed("inbox"):  # disabled, reset or moved to another role meanwhile
        return
    with db.session_scope() as session:
        conversation = inbox.get(session, conversation_id)
        messages = inbox.thread(session, conversation)
        # What the header, the buttons and the reply box depend on: when it changes under the agent's
        # eyes (a colleague took or closed it, the window closed, the person opted out), the screen is
        # drawn again; otherwise only the list and the thread refresh.
        now = inbox.screen_state(session, conversation)
        if can_edit and conversation.assigned_to == user.id:  # theirs: what comes in while it is on screen
            inbox.mark_seen(session, conversation)        # is read (a tab left open elsewhere reads nothing)
    if now != st.session_state.get(f"inbox_state_{conversation_id}"):
        st.rerun(scope="app")  # a colleague took or closed it, the window closed, the person opted out
    with st.container(height=480):
        for message in messages:
            message_block(message)
        if not messages:
            st.info("Aucun message dans cette conversation.")


def person_panel(contact_id: int) -> None:
    with db.session_scope() as session:
        who = inbox.person(session, contact_id)
    st.markdown(f"**{as_text(who.name)}**")
    st.caption(as_text(who.phone))
    st.markdown(f"Consentement : {who.consent}")
    if who.window_open:
        st.markdown(f"Fenêtre de 24 h ouverte jusqu'au {format_dt(who.window_expires_at)}")
    else:
        st.markdown("Fenêtre de 24 h fermée")
    st.markdown("**Segments** : " + (as_text(", ".join(who.segments)) if who.segments else "aucun"))
    st.markdown("**Campagnes reçues**")
    if not who.campaigns:
        st.caption("Aucune.")
    for name, status, sent in who.campaigns:
        st.caption(as_text(f"{name} — {status}" + (f" ({format_dt(sent)})" if sent else "")))


def insert_saved_reply(conversation_id: int) -> None:
    """The saved reply as it is now, added after what the agent has typed (never over it). A callback:
    it runs before the screen is drawn, so its refusal is kept for the reply box to show."""
    chosen = st.session_state.get(f"saved_{conversation_id}")
    if chosen is None:
        return
    try:
        with db.session_scope() as session:
            body = inbox.saved_reply(session, chosen).body
    except UserError as err:
        st.session_state[f"insert_refused_{conversation_id}"] = str(err)
        return
    key = f"reply_text_{conversation_id}"
    typed = (st.session_state.get(key) or "").rstrip()
    st.session_state[key] = f"{typed}\n\n{body}" if typed else body


def conversation(conversation_id: int) -> None:
    try:
        with db.session_scope() as session:
            conv = inbox.get(session, conversation_id)
            contact_id = conv.contact_id
            name = inbox.person_name(session, conv)
            status, assigned_to = conv.status, conv.assigned_to
            handoff_reason = conv.handoff_reason
            person = inbox.person(session, contact_id)
            now = st.session_state[f"inbox_state_{conversation_id}"] = inbox.screen_state(session, conv)
            # Read: what the agent has just chosen in the list, and what they hold (not what a tab shows
            # on its own, nor a colleague's conversation they glance at).
            if can_edit and (st.session_state.pop(SEEN_KEY, None) == conversation_id or conv.assigned_to == user.id):
                inbox.mark_seen(session, conv)
            approved = {t.id: f"{t.name} ({t.language})" for t in templates.approved(session)}
            others = {i: n for i, n in inbox.colleagues(session).items() if i not in (assigned_to, user.id)}
            handing_to = st.session_state.get(f"hand_to_{conversation_id}")
            if handing_to is not None and handing_to not in others:  # disabled meanwhile: kept chosen, so that
                others[handing_to] = inbox.user_name(session, handing_to)  # « Confier » says why it is refused
            holder = inbox.holder_name(session, conv)
            saved = inbox.saved_replies(session)
            reply_titles = {r.id: r.title for r in saved}
    except NotFound as err:  # erased meanwhile: said, and the agent chooses the next one
        st.session_state[OPEN_KEY] = None
        st.info(as_text(f"Cette conversation n'est plus disponible : {err}"))
        return
    except Exception:  # noqa: BLE001 - the database busy or away: the agent stays on this person
        log.exception("The inbox could not read conversation %s", conversation_id)
        st.warning("Cette conversation ne peut pas être affichée pour l'instant (base de données occupée ou "
                   "injoignable). Réessayez dans un instant : vous restez sur cette conversation.")
        return
    thread_col, person_col = st.columns([3, 1])
    with person_col:
        person_panel(contact_id)
    with thread_col:
        st.subheader(as_text(f"{short(name)} — {person.phone}"))
        details = [labels.CONVERSATION_STATUS[ConversationStatus(status)]]
        if handoff_reason and status != ConversationStatus.BOT:
            details.append(f"transmise à un agent : {labels.HANDOFF_REASON.get(handoff_reason, handoff_reason)}")
        if holder:
            details.append(f"suivie par {holder}")
        st.caption(as_text(" · ".join(details)))
        thread_view(conversation_id)
        if can_edit:  # two fixed boxes: the reply box keeps its place (and what is typed in it) whatever the buttons
            with st.container():
                actions(conversation_id, name, status, assigned_to, others)
            with st.container():
                reply_box(conversation_id, name, now, approved, reply_titles)


def actions(conversation_id: int, name: str, status: str, assigned_to: int | None, others: dict[int, str]) -> None:
    if status == ConversationStatus.CLOSED:
        st.caption("Conversation traitée. Si la personne écrit à nouveau, une nouvelle conversation s'ouvre.")
        if st.button("Rouvrir la conversation", key=f"reopen_{conversation_id}", icon=":material/replay:"):
            done = act(inbox.reopen, conversation_id)
            if done:
                opened, _ = done
                st.session_state[OPEN_KEY] = opened.id
                confirm(as_text(f"Conversation de {short(name)} rouverte : vous pouvez lui écrire." if opened.id ==
                                conversation_id else f"{short(name)} a écrit depuis : sa conversation en cours est "
                                                     "ouverte."))
        return
    colleague_holds = status == ConversationStatus.AGENT and assigned_to not in (None, user.id)
    if colleague_holds:
        st.caption("Un collègue suit cette conversation : il peut vous la confier.")
    row = st.container(horizontal=True)
    # Drawn also when a colleague holds it: an agent who clicks at the moment a colleague took it is
    # told who has it (a button no longer drawn would swallow the click).
    if (assigned_to != user.id or status != ConversationStatus.AGENT) and \
            row.button("Prendre en charge", key=f"take_{conversation_id}", icon=":material/front_hand:"):
        if act(inbox.assign_to_me, conversation_id):
            confirm(as_text(f"Conversation de {short(name)} prise en charge."))
    if colleague_holds and user.role not in ("admin", "manager"):
        return  # closing it, giving it back or passing it on is the holder's (or a manager's) call
    if row.button("Marquer comme traitée", key=f"done_{conversation_id}", icon=":material/task_alt:"):
        if act(inbox.mark_handled, conversation_id):
            confirm(as_text(f"Conversation de {short(name)} marquée comme traitée."))
    if status != ConversationStatus.BOT and \
            row.button("Rendre à l'assistant", key=f"bot_{conversation_id}", icon=":material/smart_toy:"):
        if act(inbox.give_back_to_bot, conversation_id):
            confirm(as_text(f"Conversation de {short(name)} rendue à l'assistant virtuel."))
    if others:
        h1, h2 = st.columns([3, 1])
        colleague = h1.selectbox("Confier à un collègue", list(others), format_func=others.get,
                                 key=f"hand_to_{conversation_id}", index=None, placeholder="Choisir un collègue")
        if h2.button("Confier", key=f"hand_{conversation_id}", disabled=colleague is None):
            done = act(inbox.hand_to, conversation_id, colleague)
            if done:
                confirm(as_text(f"Conversation de {short(name)} confiée à {short(done[0].name)}."))


def reply_box(conversation_id: int, name: str, now: tuple, approved: dict[int, str],
              reply_titles: dict[int, str]) -> None:
    """The text box comes first and stays whatever happens (the window closing, the person opting
    out): what the agent is typing, even not yet sent to the server, is never taken off the screen."""
    _, _, window, opted_out = now
    key, drawn = f"reply_text_{conversation_id}", f"reply_box_{conversation_id}"
    if st.session_state.pop(f"reply_sent_{conversation_id}", False):
        st.session_state[key] = ""  # sent: the box is emptied (kept as typed when it did not leave)
    text = ""
    if (window and not opted_out) or st.session_state.get(drawn):  # once drawn, it stays with its text
        st.session_state[drawn] = True
        text = st.text_area(f"Votre réponse à {as_text(short(name))}", key=key, max_chars=4096)
    if opted_out:
        st.warning("Cette personne s'est désinscrite : aucun message ne peut lui être envoyé.")
        return
    if window:
        row = st.container(horizontal=True)
        if row.button("Envoyer", type="primary", key=f"send_{conversation_id}"):
            if act(inbox.reply, conversation_id, text):
                st.session_state[f"reply_sent_{conversation_id}"] = True
                confirm(as_text(f"Réponse à {short(name)} enregistrée : elle part dans un instant."))
        if reply_titles:
            row.selectbox("Réponse enregistrée", list(reply_titles), format_func=reply_titles.get, index=None,
                          placeholder="Choisir une réponse enregistrée", key=f"saved_{conversation_id}",
                          label_visibility="collapsed")
            row.button("Insérer", key=f"insert_{conversation_id}", on_click=insert_saved_reply,
                       args=(conversation_id,), help="Ajoutée après votre texte ; elle reste modifiable avant l'envoi.")
        if refused := st.session_state.pop(f"insert_refused_{conversation_id}", None):
            st.warning(as_text(refused))
        return
    st.info("La fenêtre de 24 heures est fermée : WhatsApp n'accepte plus de texte libre. Seul un modèle approuvé "
            "peut relancer la personne ; sa réponse rouvrira la fenêtre.")
    if not approved:
        st.caption("Aucun modèle approuvé n'est disponible.")
        return
    options = list(approved)
    chosen = st.selectbox("Modèle à envoyer", options, format_func=approved.get, key=f"tpl_{conversation_id}")
    if st.button("Envoyer le modèle", key=f"send_tpl_{conversation_id}"):
        if act(inbox.send_template, conversation_id, chosen):
            confirm(as_text(f"Modèle pour {short(name)} enregistré : il part dans un instant, son état s'affiche dans "
                            "la conversation."))


def saved_replies_manager() -> None:
    """Managers and administrators write the replies every agent may insert. What a manager types is
    kept in the form until it is saved; a reply changed or deleted by someone else meanwhile is said,
    never overwritten nor lost in silence."""
    with st.expander("Gérer les réponses enregistrées"):
        if st.session_state.pop("saved_edit_reset", False):  # after a save or a delete: a blank new reply
            for key in ("saved_edit_choice", "saved_title_None", "saved_body_None"):
                st.session_state.pop(key, None)
        with db.session_scope() as session:
            existing = {r.id: (r.title, r.body) for r in inbox.saved_replies(session)}
        editing = st.session_state.get("saved_edit_choice")
        if editing is not None and editing not in existing:  # deleted meanwhile: kept chosen, to say so
            existing[editing] = st.session_state.get(f"saved_base_{editing}", ("(supprimée)", ""))
        choice = st.selectbox("Réponse", [None, *existing], key="saved_edit_choice", placeholder="Choisir une réponse",
                              format_func=lambda i: "➕ Nouvelle réponse" if i is None else existing[i][0])
        base = st.session_state.setdefault(f"saved_base_{choice}", existing.get(choice, ("", "")))
        with st.form(f"saved_reply_form_{choice}"):
            new_title = st.text_input("Titre", base[0], max_chars=80, key=f"saved_title_{choice}")
            new_body = st.text_area("Texte", base[1], max_chars=4096, key=f"saved_body_{choice}")
            if st.form_submit_button("Enregistrer"):
                if choice is not None and existing.get(choice) != base:
                    theirs = existing.get(choice, ("", ""))[1]
                    st.error(as_text("Cette réponse a été modifiée par quelqu'un d'autre pendant que vous l'écriviez : "
                                     "votre version n'est pas enregistrée (elle reste ci-dessus). La leur : « "
                                     f"{theirs} ». Enregistrez à nouveau pour la remplacer par la vôtre."))
                    st.session_state.pop(f"saved_base_{choice}", None)  # the next save starts from theirs
                elif _shell.act(lambda s: inbox.save_reply(s, new_title, new_body, _shell.me(s), reply_id=choice)):
                    st.session_state.pop(f"saved_base_{choice}", None)
                    st.session_state["saved_edit_reset"] = choice is None
                    confirm(as_text(f"Réponse « {' '.join(new_title.split())} » enregistrée."))
        if choice is not None and st.button("Supprimer cette réponse", key=f"saved_delete_{choice}"):
            if _shell.act(lambda s: inbox.delete_reply(s, choice, _shell.me(s))):
                st.session_state["saved_edit_reset"] = True
                confirm(as_text(f"Réponse « {base[0]} » supprimée."))


# --- screen ------------------------------------------------------------------------------------

waiting_figures()
notice = st.session_state.get("inbox_notice")
if notice:  # what the last action did, and to whom: shown until the next action or another person
    st.success(notice)
if can_edit and user.role in ("admin", "manager"):
    saved_replies_manager()
left, right = st.columns([1, 3])
with left:
    scope = st.radio("Afficher", [s for s in SCOPES if can_edit or s != "mine"], format_func=SCOPES.get,
                     key="inbox_scope")
    search = st.text_input("Rechercher une personne (nom ou numéro)", key="inbox_search", max_chars=80)
    conversation_list(scope, search)
with right:
    opened = st.session_state.get(OPEN_KEY)
    if opened is None:
        st.info("Choisissez une conversation dans la liste.")
    else:
        conversation(opened)
