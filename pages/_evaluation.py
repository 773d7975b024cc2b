"""The latest evaluation of the live knowledge base, shown on the knowledge base and chatbot
screens: its figures, who ran it and when, each question's result; a run is a background job whose
progress bar this part of the screen refreshes every two seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from core import db, fmt
from core.timeutil import format_dt, utcnow
from pages import _shell
from rag import kb


def _percent(value: float | None) -> str:
    return "—" if value is None else fmt.percent(value)


def _decimal(value: float | None) -> str:
    return "—" if value is None else fmt.number(value, 2)


def _when(value: Any) -> str:
    return format_dt(datetime.fromisoformat(str(value))) if value else ""


def _figures(figures: dict[str, Any]) -> None:
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Bon document en 1er", _percent(figures.get("hit@1")))
    c2.metric("Dans les 3 premiers", _percent(figures.get("hit@3")))
    c3.metric("Rang moyen (MRR)", _decimal(figures.get("mrr")))
    c4.metric("Hors sujet refusés", _percent(figures.get("refusal_recall")))
    c5.metric("Refus justifiés", _percent(figures.get("refusal_precision")),
              help="Part des refus qui portaient bien sur une question hors sujet.")


def _previous(state: dict[str, Any]) -> None:
    if state.get("previous"):
        st.caption("Résultats de l'évaluation précédente :")
        _figures(state["previous"])


@st.fragment(run_every=2)
@_shell.guarded
def _running() -> None:
    with db.session_scope() as session:
        state = kb.latest_evaluation(session) or {}
    if state.get("status") != "running":
        st.rerun(scope="app")
        return
    done, total = int(state.get("done") or 0), max(1, int(state.get("total") or 1))
    st.progress(min(1.0, done / total), text=f"Évaluation en cours : {done} questions sur {total} "
                                             f"(lancée par {state.get('by', '')} le {_when(state.get('started_at'))}).")
    age = (utcnow() - datetime.fromisoformat(str(state.get("updated_at")))).total_seconds()
    if age > kb.EVALUATION_STALE_SECONDS:
        st.warning("L'évaluation n'avance plus depuis plus de trois minutes : le service de tâches s'est peut-être "
                   "arrêté. Rechargez la page pour en lancer une nouvelle, ou prévenez un administrateur.")


def show(*, can_run: bool, key: str) -> None:
    """The latest evaluation and, for those who may, the button that starts one."""
    st.markdown("Les questions du jeu d'évaluation (reformulées, et hors sujet que l'assistant doit refuser) "
                "posées à la base **telle que l'assistant l'utilise maintenant**.")
    with db.session_scope() as session:
        state = kb.latest_evaluation(session)
    running = bool(state and state.get("status") == "running" and (
        utcnow() - datetime.fromisoformat(str(state.get("updated_at")))).total_seconds() < kb.EVALUATION_STALE_SECONDS)
    if can_run and not running and st.button("Évaluer la base actuelle", key=f"{key}_eval_run",
                                             icon=":material/play_arrow:"):
        if _shell.act(lambda s: kb.start_evaluation(s, actor=_shell.me(s))):
            st.rerun()
    if state is None:
        st.info("Aucune évaluation pour l'instant." + (" Lancez-en une : elle prend environ une minute." if can_run
                                                        else ""))
        return
    if running:
        _running()
        _previous(state)
        return
    if state.get("status") == "running":  # silent for too long: its process stopped
        st.warning(f"L'évaluation lancée le {_when(state.get('started_at'))} s'est interrompue (le service de tâches "
                   "s'est arrêté)." + (" Relancez-la." if can_run else ""))
        _previous(state)
        return
    if state.get("status") == "failed":
        st.error(f"La dernière évaluation (lancée le {_when(state.get('started_at'))}) a échoué. Le détail est dans "
                 "le journal de l'application ; relancez-la ou prévenez un administrateur.")
        _previous(state)
        return
    figures = state.get("figures") or {}
    st.caption(f"Dernière évaluation : le {_when(state.get('finished_at'))}, lancée par {state.get('by', '')}, "
               f"{figures.get('n', 0)} questions en {str(state.get('seconds', '')).replace('.', ',')} s.")
    _figures(figures)
    _shell.table(pd.DataFrame([{"Question": r["question"], "Document attendu": r["gold"] or "(hors sujet)",
                                "Documents trouvés": ", ".join(r["ranked"]),
                                "Confiance": _decimal(r["confidence"]),
                                "Refusée": "oui" if r["refused"] else "non"} for r in state.get("rows", [])]),
                 hide_index=True, width="stretch")
