"""The variable-mapping editor shared by the templates screen and the campaign wizard."""

from __future__ import annotations

import streamlit as st

from core import db, labels, templates
from core.contacts.service import attribute_keys


def mapping_editor(k: str, data: dict, current: dict, *, disabled: bool = False) -> dict:
    """One row per variable: where its value comes from, and the value used when it is empty.
    `k` prefixes the widget keys."""
    mapping: dict = {}
    keys = templates.variable_keys(data)
    if not keys:
        st.caption("Ce modèle n'a pas de variable.")
        return mapping
    with db.session_scope() as session:
        attributes = attribute_keys(session)
    sources = list(labels.MAPPING_SOURCE)
    guessed = templates.guess_mapping(data, attributes)
    for key in keys:
        spec = current.get(key) or guessed[key]
        c1, c2, c3, c4 = st.columns([1, 2, 2, 2])
        c1.markdown(f"**{templates.key_label(key)}**")
        source = c2.selectbox("Source", sources, index=sources.index(spec.get("source", "field")),
                              format_func=labels.MAPPING_SOURCE.get, key=f"{k}{key}_src", disabled=disabled)
        entry = {"source": source}
        if source == "field":
            fields = list(labels.CONTACT_FIELD)
            entry["field"] = c3.selectbox("Champ", fields, index=fields.index(spec["field"]) if spec.get("field") in
                                          fields else 0, format_func=labels.CONTACT_FIELD.get,
                                          key=f"{k}{key}_field", disabled=disabled)
        elif source == "attribute":
            options = sorted(set(attributes) | ({spec["attribute"]} if spec.get("attribute") else set())) or ["agence"]
            entry["attribute"] = c3.selectbox("Attribut", options, index=options.index(spec["attribute"])
                                              if spec.get("attribute") in options else 0, key=f"{k}{key}_attr",
                                              format_func=labels.attribute, disabled=disabled)
        else:
            entry["text"] = c3.text_input("Texte", spec.get("text") or "", key=f"{k}{key}_text",
                                          disabled=disabled)
        fallback = c4.text_input("Valeur si vide", spec.get("fallback") or "", key=f"{k}{key}_fallback",
                                 disabled=disabled, help="Sans valeur par défaut, un contact sans cette donnée "
                                                             "est écarté de l'envoi (jamais de message à trou).")
        if fallback.strip():
            entry["fallback"] = fallback.strip()
        mapping[key] = entry
    return mapping
