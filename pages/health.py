"""État du système: the database, Redis, the workers, the queue, Respond.io and the webhooks, each
checked when the screen is opened (administrators only)."""

import pandas as pd
import streamlit as st

from core import campaigns, health
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
    st.dataframe(pd.DataFrame({"Statut": [campaigns.RECIPIENT_LABELS.get(s, s) for s in state.ledger_rows],
                               "Destinataires": list(state.ledger_rows.values())}), hide_index=True)
else:
    st.info("Aucune campagne programmée, en cours ou en pause.")
