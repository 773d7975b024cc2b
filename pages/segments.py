"""Segments: static lists and dynamic audiences built from rules, with a live count."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import campaigns, db, fmt, labels, phones, segments, users
from core.config import get_settings
from core.contacts.service import attribute_keys
from core.errors import UserError
from core.models import Contact, SegmentKind
from core.text import as_text
from core.timeutil import format_dt
from pages import _shell

user, can_edit = _shell.require("segments")
_shell.header("segments", "Les listes de contacts et les audiences définies par des règles, utilisées pour cibler "
                          "les campagnes.", read_only=not can_edit)

BUILDER_KEY = "segment_builder"


@st.cache_data(ttl=60, show_spinner=False)
def segment_table(database_url: str, version: int) -> list[dict]:
    with db.session_scope() as session:
        return [{"id": s.id, "Nom": s.name, "Type": "Dynamique" if s.kind == SegmentKind.DYNAMIC else "Statique",
                 "Contacts": segments.count(session, s),
                 "Définition": segments.describe(s.rules) if s.rules else (s.description or ""),
                 "Créé le": format_dt(s.created_at)} for s in segments.list_all(session)]


def campaign_names() -> dict[int, str]:
    with db.session_scope() as session:
        return campaigns.names(session)


def contact_rows(contacts: list[Contact]) -> pd.DataFrame:
    return pd.DataFrame([{"Téléphone": c.phone, "Prénom": c.first_name or "", "Nom": c.last_name or "",
                          "Consentement": c.consent_status} for c in contacts])


def bump() -> None:
    st.session_state["segments_version"] = st.session_state.get("segments_version", 0) + 1


# --- rule builder ------------------------------------------------------------------------------

def new_rule() -> dict:
    return {"field": "attribute:type_assure", "operator": "equals", "value": ""}


def builder_state() -> dict:
    if BUILDER_KEY not in st.session_state:
        st.session_state[BUILDER_KEY] = {"match": "all", "rules": [{"match": "all", "rules": [new_rule()]}]}
    return st.session_state[BUILDER_KEY]


def rule_editor(group_i: int, rule_i: int, rule: dict, fields: list[str], campaign_choices: dict[int, str]) -> bool:
    """Draw one rule; returns False when the user removed it."""
    key = f"r{group_i}_{rule_i}"
    c1, c2, c3, c4 = st.columns([2, 3, 2, 1])
    kinds = ["field", "behaviour"]
    kind = "behaviour" if "behaviour" in rule else "field"
    if c4.button("✕", key=f"{key}_del", help="Retirer cette règle"):
        return False
    kind = c1.selectbox("Critère", kinds, key=f"{key}_kind", index=kinds.index(kind),
                        format_func=lambda k: {"field": "Champ du contact", "behaviour": "Comportement"}[k])
    if kind == "behaviour":
        rule.clear()
        rule["behaviour"] = c2.selectbox("Comportement", list(segments.BEHAVIOURS), key=f"{key}_b",
                                         format_func=segments.BEHAVIOURS.get)
        options = [None, *campaign_choices]
        rule["campaign_id"] = c3.selectbox("Campagne", options, key=f"{key}_c",
                                           format_func=lambda i: "N'importe laquelle" if i is None
                                           else campaign_choices[i])
        return True
    index = fields.index(rule["field"]) if rule.get("field") in fields else 0
    field = c2.selectbox("Champ", fields, key=f"{key}_f", index=index,
                         format_func=lambda f: f"Attribut : {labels.attribute(f.split(':', 1)[1])}"
                         if f.startswith("attribute:") else segments.FIELDS[f][0])
    ops = list(segments.operators_for(field))
    operator = c3.selectbox("Opérateur", ops, key=f"{key}_o", format_func=labels.SEGMENT_OPERATOR.get,
                            index=ops.index(rule["operator"]) if rule.get("operator") in ops else 0)
    value = "" if operator in ("is_empty", "is_not_empty") else st.text_input(
        "Valeur (AAAA-MM-JJ pour une date ; valeurs séparées par des virgules pour « fait partie de »)",
        value=str(rule.get("value") or ""), key=f"{key}_v")
    rule.clear()
    rule.update(field=field, operator=operator, value=value)
    return True


def builder() -> dict:
    state = builder_state()
    with db.session_scope() as session:
        fields = [*segments.FIELDS, *(f"attribute:{k}" for k in attribute_keys(session))]
    campaign_choices = campaign_names()
    state["match"] = st.radio("Un contact fait partie du segment s'il remplit", ["all", "any"], horizontal=True,
                              key="b_match", format_func=lambda m: {"all": "tous les groupes",
                                                                    "any": "au moins un groupe"}[m])
    kept_groups = []
    for gi, group in enumerate(state["rules"]):
        with st.container(border=True):
            group["match"] = st.radio(f"Groupe {gi + 1} : le contact remplit", ["all", "any"], horizontal=True,
                                      key=f"g{gi}_match", format_func=labels.SEGMENT_MATCH.get)
            group["rules"] = [r for ri, r in enumerate(group["rules"])
                              if rule_editor(gi, ri, r, fields, campaign_choices)]
            a, b = st.columns(2)
            if a.button("+ Ajouter une règle", key=f"g{gi}_add"):
                group["rules"].append(new_rule())
                st.rerun()
            if len(state["rules"]) > 1 and b.button("Supprimer ce groupe", key=f"g{gi}_drop"):
                continue
        kept_groups.append(group)
    state["rules"] = kept_groups
    if st.button("+ Ajouter un groupe (OU / ET)", key="add_group"):
        state["rules"].append({"match": "all", "rules": [new_rule()]})
        st.rerun()
    return {"match": state["match"], "rules": [g for g in state["rules"] if g["rules"]]}


def live_preview(rules: dict) -> bool:
    try:
        with db.session_scope() as session:
            result = segments.preview_rules(session, rules)
            sample = contact_rows(result.sample)
    except UserError as err:
        st.warning(str(err))
        return False
    st.metric("Contacts correspondants", fmt.number(result.count))
    if result.opted_out:
        st.caption(f"dont {result.opted_out} désinscrit(s), qui ne recevront jamais de campagne.")
    st.caption(segments.describe(rules, campaign_names()))
    if not sample.empty:
        _shell.table(sample, hide_index=True, width="stretch")
    return True


# --- screen ------------------------------------------------------------------------------------

rows = segment_table(get_settings().database_url, st.session_state.get("segments_version", 0))
if rows:
    _shell.table(pd.DataFrame(rows).set_index("id").rename_axis("N°"), width="stretch")
else:
    st.info("Aucun segment pour l'instant. Créez-en un ci-dessous, ou importez un fichier de contacts dans un segment.")

if can_edit:
    tab_dynamic, tab_static, tab_manage = st.tabs(["Nouveau segment dynamique", "Nouveau segment statique", "Gérer"])
    with tab_dynamic:
        name = st.text_input("Nom du segment", key="dyn_name")
        rules = builder()
        valid = live_preview(rules)
        if st.button("Enregistrer le segment dynamique", type="primary", disabled=not valid, key="dyn_save"):
            if _shell.act(lambda s: segments.create(s, name=name, kind=SegmentKind.DYNAMIC, rules=rules,
                                                    actor=_shell.me(s))):
                st.session_state.pop(BUILDER_KEY, None)
                bump()
                st.toast("Segment enregistré.")
                st.rerun()
    with tab_static:
        with st.form("static_segment"):
            name = st.text_input("Nom du segment")
            description = st.text_input("Description")
            numbers = st.text_area("Numéros à inclure (un par ligne, tout format)")
            if st.form_submit_button("Créer le segment statique", type="primary"):
                wanted = [phones.normalize(n) for n in numbers.splitlines() if n.strip()]
                def create_static(session):  # noqa: ANN001, ANN202
                    segment = segments.create(session, name=name, kind=SegmentKind.STATIC, description=description,
                                              actor=_shell.me(session))
                    return segments.add_numbers(session, segment, [w.e164 for w in wanted if w.ok and w.e164],
                                                actor=_shell.me(session))

                done = _shell.act(create_static)
                if done:
                    added = done.value
                    bump()
                    st.success(f"Segment créé avec {added} contact(s)."
                               + (f" {len(wanted) - added} numéro(s) non trouvé(s) dans la base."
                                  if len(wanted) > added else ""))
    with tab_manage:
        if rows:
            by_id = {r["id"]: r["Nom"] for r in rows}
            chosen = st.selectbox("Segment", list(by_id), format_func=by_id.get, key="manage_segment")
            if st.button("Supprimer ce segment", key="segment_delete"):
                st.session_state["confirm_delete"] = chosen
            if st.session_state.get("confirm_delete") == chosen:
                st.warning(f"Supprimer « {as_text(by_id[chosen])} » ? Les contacts eux-mêmes ne sont pas supprimés.")
                if st.button("Oui, supprimer", type="primary", key="segment_delete_yes"):
                    st.session_state.pop("confirm_delete", None)
                    if _shell.act(lambda s: segments.delete(s, segments.get(s, chosen), actor=users.get(s, user.id))):
                        bump()
                        st.rerun()
