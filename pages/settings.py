"""Paramètres: how this installation is configured (administrators only). Secrets are never shown."""

import streamlit as st

from core import db, system
from pages import _shell

_shell.require("settings")
_shell.header("settings", "Configuration de cette installation. Les valeurs se changent dans le fichier .env ou "
                          "les variables d'environnement du serveur ; les secrets ne sont jamais affichés.")

with db.session_scope() as session:
    rows = system.configuration_summary(session)
st.table({"Paramètre": [r[0] for r in rows], "Valeur": [r[1] for r in rows]})
