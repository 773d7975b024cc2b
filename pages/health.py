"""État du système: the database, Redis, the workers, the queue, Respond.io and the webhooks, each
checked when the screen is opened (administrators only)."""

import pandas as pd
import streamlit as st

from core import db, health, inbound, labels
from core.timeutil import format_dt, utcnow
from pages import _shell

user, can_edit = _shell.require("health")
_shell.header("health", "L'état technique du service : base de données, Redis, workers, file d'attente, "
                        "fournisseur WhatsApp et webhooks.", read_only=not can_edit)

if st.button("Vérifier à nouveau", icon=":material/refresh:", key="health_refresh"):
    st.rerun()

checks = health.checks()
failing = [c for c in checks if c.ok is False]
if failing:
    st.error(f"{len(failing)} point(s) à corriger : " + ", ".join(c.name for c in failing) + ".",
             icon=":material/error:")
else:
    st.success("Tout fonctionne.", icon=":material/check_circle:")
st.caption(f"Vérifié le {format_dt(utcnow(), with_seconds=True)} (heure de Libreville).")

for check in checks:
    icon = {True: ":material/check_circle:", False: ":material/error:", None: ":material/info:"}[check.ok]
    with st.container(border=True):
        c1, c2 = st.columns([1, 3])
        c1.markdown(f"{icon} **{check.name}**")
        c2.markdown(check.detail)
        c2.caption(f"Réponse en {check.seconds * 1000:.0f} ms")

state = health.cluster_state()
st.subheader("Campagnes en cours")
if state.ledger_rows:
    _shell.table(pd.DataFrame({"Statut": [labels.RECIPIENT_STATUS.get(s, s) for s in state.ledger_rows],
                               "Destinataires": list(state.ledger_rows.values())}), hide_index=True)
else:
    st.info("Aucune campagne programmée, en cours ou en pause.")


# --- inbound events set aside ---------------------------------------------------------------------

def dead_letter_actions(event_id: int, label: str) -> None:
    """Retry or discard one event set aside; the decision is audited."""
    retry, discard = st.columns(2)
    action = None
    if retry.button("Réessayer", key=f"dl_retry_{event_id}", icon=":material/replay:", disabled=not can_edit):
        action = inbound.retry_dead_letter
    if discard.button("Écarter", key=f"dl_discard_{event_id}", icon=":material/delete:", disabled=not can_edit):
        action = inbound.discard_dead_letter
    if action is None:
        return
    if _shell.act(lambda s: action(s, event_id, actor=_shell.me(s))):
        verb = "sera réappliqué" if action is inbound.retry_dead_letter else "est écarté"
        st.session_state["dl_flash"] = f"L'événement {label} {verb}."
        st.rerun()


st.subheader("Événements Respond.io mis de côté")
if flash := st.session_state.pop("dl_flash", None):
    st.success(flash)
with db.session_scope() as session:
    dead = [(e.id, e.event_id, e.event_type, e.dead_at, e.attempts, e.error or "", inbound.masked_payload(e))
            for e in inbound.dead_letters(session)]
if not dead:
    st.info("Aucun événement mis de côté : tout ce que Respond.io a envoyé a été appliqué.")
else:
    st.caption("Un événement est mis de côté quand il n'a pu être enregistré ou appliqué après plusieurs essais ; "
               "les suivants continuent d'être traités. Les numéros de téléphone sont masqués.")
    _shell.table(pd.DataFrame([{"Référence": event_id, "Type": kind, "Mis de côté le": format_dt(at),
                                "Essais": attempts, "Erreur": error[:200]}
                               for _, event_id, kind, at, attempts, error, _ in dead]),
                 hide_index=True, width="stretch")
    by_id = {row[0]: row for row in dead}
    chosen = st.selectbox("Examiner l'événement", list(by_id), key="dl_choice",
                          format_func=lambda i: f"{by_id[i][1]} — {by_id[i][2]}")
    if chosen is not None:
        _, event_id, kind, at, attempts, error, body = by_id[chosen]
        st.text(f"Erreur : {error}")
        st.code(body, language="json")
        dead_letter_actions(chosen, event_id)
