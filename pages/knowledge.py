"""Base de connaissances: the CNSS documents the chatbot answers from. Upload, list with chunk
counts and dates, preview the passages, re-index, enable / disable, delete."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import db
from core.text import as_text
from core.timeutil import format_dt
from pages import _evaluation, _shell
from rag import kb
from rag.loaders import SUPPORTED

user, can_edit = _shell.require("knowledge")
_shell.header("knowledge", "Les documents de la CNSS sur lesquels l'assistant virtuel fonde ses réponses : il ne "
                           "répond qu'à partir d'eux et cite ceux qu'il utilise.", read_only=not can_edit)


def act(action, document_id: int, *args) -> bool:  # noqa: ANN001, ANN002
    return bool(_shell.act(lambda s: action(s, kb.get(s, document_id), *args, actor=_shell.me(s))))


# --- upload ------------------------------------------------------------------------------------

if can_edit:
    with st.form("kb_upload", clear_on_submit=True):
        uploads = st.file_uploader("Ajouter des documents (PDF, Word .docx, texte, Markdown, HTML)",
                                   type=[s.lstrip(".") for s in SUPPORTED], accept_multiple_files=True,
                                   key="kb_files")
        submitted = st.form_submit_button("Indexer", type="primary")
    if submitted and uploads:
        with st.spinner("Découpage et indexation…"):
            for upload in uploads:
                done = _shell.act(lambda s, u=upload: kb.ingest(s, u.name, u.getvalue(), actor=_shell.me(s)))
                if done is None:
                    continue
                result = done.value
                if result.status == "unchanged":
                    st.info(f"« {as_text(upload.name)} » n'a pas changé : rien à refaire.")
                else:
                    done = "ajouté" if result.status == "created" else "mis à jour"
                    st.success(f"« {as_text(upload.name)} » {done} : {result.chunks} passages.")

# --- list --------------------------------------------------------------------------------------

with db.session_scope() as session:
    documents = kb.list_documents(session)
if not documents:
    st.info("Aucun document pour l'instant." + (" Ajoutez les documents de la CNSS ci-dessus." if can_edit else ""))
    st.stop()
c1, c2, c3 = st.columns(3)
c1.metric("Documents", len(documents))
c2.metric("Documents actifs", sum(d.enabled for d in documents))
c3.metric("Passages indexés", sum(d.chunk_count for d in documents))
_shell.table(pd.DataFrame([{"Titre": d.title, "Fichier": d.filename, "Format": d.mime_type or "",
                            "Passages": d.chunk_count, "Actif": "oui" if d.enabled else "non",
                            "Taille (Ko)": round(d.size_bytes / 1024, 1), "Indexé le": format_dt(d.indexed_at)}
                           for d in documents]), hide_index=True, width="stretch")

with st.expander("Qualité des réponses : dernière évaluation", icon=":material/fact_check:"):
    _evaluation.show(can_run=can_edit, key="kb")

titles = {d.id: f"{d.title} ({d.filename})" for d in documents}
chosen = st.selectbox("Ouvrir un document", list(titles), format_func=titles.get, key="kb_choice")
with db.session_scope() as session:
    document = kb.get(session, chosen)
passages = kb.chunks(document)
st.caption(f"{len(passages)} passages · {'actif' if document.enabled else 'désactivé : l’assistant ne l’utilise pas'}"
           f" · indexé le {format_dt(document.indexed_at)}")
if can_edit:
    c1, c2, c3 = st.columns(3)
    if c1.button("Réindexer", key=f"kb_reindex_{chosen}", icon=":material/refresh:"):
        if act(kb.reindex, chosen):
            st.toast("Document réindexé.")
            st.rerun()
    toggle = "Désactiver" if document.enabled else "Réactiver"
    if c2.button(toggle, key=f"kb_toggle_{chosen}", icon=":material/toggle_on:"):
        if act(kb.set_enabled, chosen, not document.enabled):
            st.rerun()
    if c3.button("Supprimer", key=f"kb_delete_{chosen}", icon=":material/delete:"):
        st.session_state["kb_confirm_delete"] = chosen
    if st.session_state.get("kb_confirm_delete") == chosen:
        st.warning(f"Supprimer « {as_text(document.title)} » ? L'assistant ne pourra plus s'en servir.")
        if st.button("Confirmer la suppression", key=f"kb_delete_ok_{chosen}", type="primary"):
            if act(kb.delete, chosen):
                st.session_state.pop("kb_confirm_delete", None)
                st.rerun()
for record in passages[:50]:
    where = record.metadata.get("location") or "début"
    with st.expander(f"Passage {int(record.metadata.get('chunk', 0)) + 1} — {as_text(where)} "
                     f"({len(record.text)} caractères)"):
        st.text(record.text)
if len(passages) > 50:
    st.caption(f"… et {len(passages) - 50} autres passages.")
