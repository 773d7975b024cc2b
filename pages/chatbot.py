"""Assistant virtuel: the playground where agents try the chatbot before trusting it: a chat with
each answer's sources, scores, latency and refusals; thumbs up / down with a comment; and the
latest evaluation of the live base (run as a background job)."""

from __future__ import annotations

import streamlit as st

from core import db, fmt
from core.config import get_settings
from core.text import as_text
from pages import _evaluation, _shell
from rag import feedback, kb

user, can_edit = _shell.require("chatbot")
_shell.header("chatbot", "L'assistant virtuel répond aux questions à partir des documents de la CNSS : testez-le "
                         "avant de lui faire confiance.")

if get_settings().openai_api_key is None:
    st.caption("Aucune clé de modèle de langage n'est configurée : les réponses sont **extractives** (les passages "
               "les plus pertinents, tels quels, avec leurs sources).")


def show_answer(turn: dict) -> None:
    status = "Refus : l'assistant passe la main à un conseiller" if turn["refused"] else (
        "Réponse extractive" if turn["extractive"] else "Réponse générée")
    st.markdown(as_text(turn["text"]))  # as WhatsApp will show it: no Markdown, nothing loaded
    st.caption(f"{status} · confiance {fmt.number(turn['confidence'], 2)} · {turn['latency_ms']} ms")
    if turn["sources"]:
        with st.expander(f"Sources ({len(turn['sources'])})"):
            for n, source in enumerate(turn["sources"], 1):
                where = f", {source['location']}" if source.get("location") else ""
                st.markdown(f"**\\[{n}\\] {as_text(source['title'])}**{as_text(where)} — score "
                            f"{fmt.number(source['score'], 3)} (dense {fmt.number(source['dense'], 2)}, "
                            f"mots-clés {fmt.number(source['bm25'], 2)})")
                st.caption(as_text(source["excerpt"]))
    interaction = turn["interaction_id"]
    if turn.get("rated"):
        st.caption("Merci pour votre avis.")
        return
    with st.popover("Donner mon avis", icon=":material/thumbs_up_down:"):
        comment = st.text_input("Commentaire (facultatif)", key=f"fb_comment_{interaction}")
        c1, c2 = st.columns(2)
        for column, value, label in ((c1, 1, "Utile"), (c2, -1, "Pas utile")):
            if column.button(label, key=f"fb_{value}_{interaction}",
                             icon=":material/thumb_up:" if value > 0 else ":material/thumb_down:"):
                if _shell.act(lambda s, v=value: feedback.rate(s, interaction, v, comment)):
                    turn["rated"] = True
                    st.rerun()


chat_tab, eval_tab = st.tabs(["Discussion", "Évaluation"])
with chat_tab:
    history: list[dict] = st.session_state.setdefault("playground", [])
    for turn in history:
        with st.chat_message("user"):
            st.markdown(as_text(turn["question"]))
        with st.chat_message("assistant", avatar=":material/smart_toy:"):
            show_answer(turn)
    if history and st.button("Nouvelle discussion", key="pg_reset", icon=":material/restart_alt:"):
        st.session_state["playground"] = []
        st.rerun()
    question = st.chat_input("Posez une question comme le ferait un assuré…", key="pg_question", max_chars=600)
    if question:
        past = [m for t in history for m in ({"role": "user", "content": t["question"]},
                                             {"role": "assistant", "content": t["text"]})]
        with st.spinner("L'assistant cherche dans les documents…"):
            result = kb.ask(question, past)
        with db.session_scope() as session:
            interaction = feedback.record(session, question, result, user_id=user.id)
            interaction_id = interaction.id
        history.append({"question": question, "text": result.text, "refused": result.refused,
                        "extractive": result.extractive, "confidence": result.scores.get("confidence", 0.0),
                        "latency_ms": result.latency_ms, "sources": result.sources, "interaction_id": interaction_id})
        st.rerun()

with eval_tab:
    _evaluation.show(can_run=user.role in ("admin", "manager"), key="chatbot")
