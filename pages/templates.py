"""Modèles WhatsApp: templates as WhatsApp defines them, checked, previewed and mapped to contact data."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd
import streamlit as st

from core import db, labels, messaging, phones, respondio, templates, users
from core.config import get_settings
from core.contacts import service as contacts_service
from core.errors import UserError
from core.models import Contact, TemplateCategory, TemplateQuality, TemplateStatus
from core.text import as_text
from core.timeutil import format_dt
from pages import _shell
from pages._mapping import mapping_editor

user, can_edit = _shell.require("templates")
_shell.header("templates", "Les modèles de messages WhatsApp approuvés par Meta : seuls eux permettent d'écrire en "
                           "premier à une personne, et seuls les modèles approuvés servent aux campagnes.",
              read_only=not can_edit)

NEW = 0


FIELD_LABELS = {"name": "Nom", "language": "Langue", "category": "Catégorie", "header": "En-tête",
                "body": "Corps du message", "footer": "Pied de message", "buttons": "Boutons",
                "variable_mapping": "Correspondance des variables"}


def anchor(*keys: str) -> None:
    """Where the list at the top of the form links to, just above the field (takes no room)."""
    st.markdown("".join(f"<span class='field-anchor' id='champ-{key}'></span>" for key in keys),
                unsafe_allow_html=True)


def problems_for(problems: dict[str, list[str]], key: str) -> None:
    """The problems found at the last save, under their field."""
    for message in problems.get(key, []):
        st.error(message, icon=":material/error:")


def problems_summary(where: Any, found: dict[str, list[str]]) -> None:
    """Every point to correct, at the top of the form, each a link to its field."""
    count = sum(len(v) for v in found.values())
    if not count:
        return
    lines = []
    for key in FIELD_LABELS:
        for message in found.get(key, []):
            # « Corps : la variable … » already names its part: that part is the link.
            label, _, rest = message.partition(" : ") if re.match(r"^[^:\[\]]{1,30} : ", message) else ("", "", "")
            lines.append(f"- [{as_text(label)}](#champ-{key}) : {as_text(rest)}" if label else
                         f"- [{FIELD_LABELS[key]}](#champ-{key}) : {as_text(message)}")
    where.warning(f"**{count} point{'s' if count > 1 else ''} à corriger avant l'enregistrement :**\n\n"
                  + "\n".join(lines), icon=":material/error:")


def bubble(data: dict, values: dict[str, str]) -> str:
    """The message drawn like a WhatsApp bubble; every piece of text is escaped."""
    body_values = [values.get(str(i + 1), f"{{{{{i + 1}}}}}") for i in range(len(templates.variable_keys(data)))]
    header = data.get("header") or {}
    parts = []
    if header.get("format") == "TEXT" and header.get("text"):
        parts.append(f"<div style='font-weight:700;margin-bottom:4px'>"
                     f"{html.escape(templates.fill(header['text'], [values.get('header', '{{1}}')]))}</div>")
    elif header.get("format"):
        parts.append(f"<div style='background:#cfd8d3;border-radius:6px;padding:18px;text-align:center;"
                     f"margin-bottom:6px'>{labels.HEADER_FORMAT.get(header['format'], '')}</div>")
    body = html.escape(templates.fill(data.get("body") or "", body_values)).replace("\n", "<br>")
    parts.append(f"<div>{body}</div>")
    if data.get("footer"):
        parts.append(f"<div style='color:#667781;font-size:0.8em;margin-top:4px'>{html.escape(data['footer'])}</div>")
    buttons = "".join(f"<div style='border-top:1px solid #d1d7db;color:#027eb5;text-align:center;padding:6px'>"
                      f"{html.escape(b.get('text') or '')}</div>" for b in data.get("buttons") or [])
    return ("<div style='background:#e5ddd5;padding:16px;border-radius:8px'>"
            "<div style='background:#fff;max-width:380px;border-radius:8px;padding:8px 10px;"
            "box-shadow:0 1px 1px rgba(0,0,0,.15);font-size:0.95em;color:#111b21'>"
            + "".join(parts) + "</div>"
            + (f"<div style='background:#fff;max-width:400px;border-radius:8px;margin-top:3px'>{buttons}</div>"
               if buttons else "") + "</div>")


@st.cache_data(ttl=30, show_spinner=False)
def template_rows(database_url: str, version: int) -> list[dict]:
    with db.session_scope() as session:
        return [{"id": t.id, "Nom": t.name, "Langue": t.language, "Catégorie": labels.TEMPLATE_CATEGORY[t.category],
                 "Statut": labels.TEMPLATE_STATUS.get(t.status, t.status),
                 "Qualité": labels.TEMPLATE_QUALITY.get(t.quality, t.quality),
                 "Synchronisé le": format_dt(t.synced_at)} for t in templates.list_all(session)]


def bump() -> None:
    st.session_state["templates_version"] = st.session_state.get("templates_version", 0) + 1


def load(template_id: int) -> dict:
    if template_id == NEW:
        return {"name": "", "language": "fr", "category": "UTILITY", "status": "PENDING", "quality": "UNKNOWN",
                "header": None, "body": "", "footer": None, "buttons": [], "variable_mapping": {}}
    with db.session_scope() as session:
        return templates.as_dict(templates.get(session, template_id))


def editor(template_id: int, current: dict, problems: dict[str, list[str]]) -> dict:
    """The template's fields, each with WhatsApp's verdict right under it."""
    k = f"t{template_id}_"
    data: dict = {}
    anchor("name", "language", "category")
    c1, c2, c3 = st.columns([3, 1, 2])
    data["name"] = c1.text_input("Nom (minuscules, chiffres et _)", current["name"], key=k + "name",
                                 disabled=not can_edit)
    with c1:
        problems_for(problems, "name")
    data["language"] = c2.text_input("Langue", current["language"], key=k + "language", disabled=not can_edit)
    with c2:
        problems_for(problems, "language")
    cats = [c.value for c in TemplateCategory]
    data["category"] = c3.selectbox("Catégorie", cats, index=cats.index(current["category"]) if current["category"]
                                    in cats else 1, format_func=labels.TEMPLATE_CATEGORY.get, key=k + "category",
                                    disabled=not can_edit)
    c1, c2 = st.columns(2)
    statuses, qualities = [s.value for s in TemplateStatus], [q.value for q in TemplateQuality]
    # WhatsApp decides: outside the sandbox only the sync from Respond.io sets these (core enforces it).
    whatsapp_decides = not can_edit or not get_settings().sandbox
    data["status"] = c1.selectbox("Statut chez WhatsApp", statuses, index=statuses.index(current["status"]),
                                  format_func=labels.TEMPLATE_STATUS.get, key=k + "status", disabled=whatsapp_decides,
                                  help="Décidé par WhatsApp, mis à jour par la synchronisation avec Respond.io.")
    data["quality"] = c2.selectbox("Qualité", qualities, index=qualities.index(current["quality"]),
                                   format_func=labels.TEMPLATE_QUALITY.get, key=k + "quality",
                                   disabled=whatsapp_decides)
    header = current.get("header") or {}
    formats = list(labels.HEADER_FORMAT)
    anchor("header")
    fmt = st.selectbox("En-tête", formats, index=formats.index(header.get("format", "")) if header else 0,
                       format_func=labels.HEADER_FORMAT.get, key=k + "header_format", disabled=not can_edit)
    if fmt == "TEXT":
        text = st.text_input("Texte de l'en-tête (60 caractères, une variable {{1}} au plus)",
                             header.get("text") or "", key=k + "header_text", disabled=not can_edit)
        data["header"] = {"format": "TEXT", "text": text}
    elif fmt:
        url = st.text_input("Adresse du média envoyé avec le modèle", header.get("media_url") or "",
                            key=k + "header_media", disabled=not can_edit)
        data["header"] = {"format": fmt, "media_url": url or None}
    else:
        data["header"] = None
    problems_for(problems, "header")
    anchor("body")
    data["body"] = st.text_area("Corps du message (1024 caractères ; variables {{1}}, {{2}}…)", current["body"],
                                height=140, key=k + "body", disabled=not can_edit)
    st.caption(f"{len(data['body'])} / 1024 caractères")
    problems_for(problems, "body")
    anchor("footer")
    data["footer"] = st.text_input("Pied de message (60 caractères, sans variable)", current.get("footer") or "",
                                   key=k + "footer", disabled=not can_edit) or None
    problems_for(problems, "footer")
    anchor("buttons")
    data["buttons"] = buttons_editor(k, current.get("buttons") or [])
    problems_for(problems, "buttons")
    return data


def buttons_editor(k: str, current: list[dict]) -> list[dict]:
    count = st.number_input("Nombre de boutons", 0, 10, len(current), key=k + "nbuttons", disabled=not can_edit)
    buttons = []
    kinds = list(labels.BUTTON_TYPE)
    for i in range(int(count)):
        existing = current[i] if i < len(current) else {"type": "QUICK_REPLY", "text": ""}
        c1, c2, c3 = st.columns([1, 1, 2])
        kind = c1.selectbox(f"Bouton {i + 1}", kinds, index=kinds.index(existing.get("type", "QUICK_REPLY"))
                            if existing.get("type") in kinds else 0, format_func=labels.BUTTON_TYPE.get,
                            key=f"{k}b{i}_type", disabled=not can_edit)
        button = {"type": kind, "text": c2.text_input("Libellé (25 car.)", existing.get("text") or "",
                                                      key=f"{k}b{i}_text", disabled=not can_edit)}
        if kind == "URL":
            button["url"] = c3.text_input("Adresse (https://…, variable {{1}} possible à la fin)",
                                          existing.get("url") or "", key=f"{k}b{i}_url", disabled=not can_edit)
        elif kind == "PHONE_NUMBER":
            button["phone_number"] = c3.text_input("Numéro (+241…)", existing.get("phone_number") or "",
                                                   key=f"{k}b{i}_phone", disabled=not can_edit)
        buttons.append(button)
    return buttons


def preview(template_id: int, data: dict, mapping: dict) -> Contact | None:
    st.markdown("**Aperçu**")
    phone = st.text_input("Aperçu pour un contact réel (numéro, tout format)", key=f"t{template_id}_preview_phone")
    contact = None
    values: dict = {"first_name": "Awa", "last_name": "Nguema", "phone": "+24177280150", "language": "fr",
                    "attributes": {}}
    if phone.strip():
        e164 = phones.normalize(phone).e164
        with db.session_scope() as session:
            contact = contacts_service.by_phone(session, e164) if e164 else None
            if contact is None:
                st.warning("Aucun contact avec ce numéro : aperçu avec des valeurs d'exemple.")
            else:
                values = templates.contact_values(contact)
    rendered = templates.render(data, mapping, values)
    if rendered.ok:
        flat = {str(i + 1): v for i, v in enumerate(rendered.parameters.get("body", []))}
        if rendered.parameters.get("header"):
            flat["header"] = rendered.parameters["header"][0]
        st.markdown(bubble(data, flat), unsafe_allow_html=True)
    else:
        key = (rendered.skip_reason or "").split(":", 1)[-1]
        st.warning(f"{templates.key_label(key)} : pas de valeur pour ce contact et pas de valeur par défaut ; "
                   "il serait écarté de la campagne.")
        st.markdown(bubble(data, {}), unsafe_allow_html=True)
    return contact


def actions(template_id: int, data: dict, contact: Contact | None) -> None:
    c1, c2 = st.columns(2)
    if c1.button("Enregistrer le modèle", type="primary", key=f"t{template_id}_save"):
        try:
            with db.session_scope() as session:
                saved = templates.save(session, data, actor=users.get(session, user.id),
                                       template_id=None if template_id == NEW else template_id)
                saved_id = saved.id
        except templates.TemplateInvalid as err:
            st.session_state[f"t{template_id}_problems"] = err.problems
            st.error("Le modèle n'est pas enregistré : corrigez les points signalés.")
            st.rerun()
        else:
            st.session_state.pop(f"t{template_id}_problems", None)
            st.session_state["template_choice_next"] = saved_id
            bump()
            st.toast("Modèle enregistré.")
            st.rerun()
    if template_id != NEW and c2.button("Supprimer", key=f"t{template_id}_delete"):
        if _shell.act(lambda s: templates.delete(s, templates.get(s, template_id), actor=_shell.me(s))):
            st.session_state["template_choice_next"] = NEW
            bump()
            st.rerun()
    if template_id != NEW and data.get("status") == "APPROVED":
        with st.expander("Envoyer un test"):
            to = st.text_input("Numéro qui reçoit le test", key=f"t{template_id}_test_to")
            st.caption("Les variables prennent les valeurs du contact de l'aperçu, sinon leurs valeurs par défaut.")
            if st.button("Envoyer le test", key=f"t{template_id}_test_send"):
                done = _shell.act(lambda s: messaging.send_test(
                    s, templates.get(s, template_id), to=to, contact=s.get(Contact, contact.id) if contact else None,
                    actor=_shell.me(s)))
                if done:
                    _shell.show_send_result(done.value)
            _shell.recent_tests(template_id)


def import_export() -> None:
    c1, c2 = st.columns(2)
    with c1:
        upload = st.file_uploader("Importer des modèles (JSON)", type=["json"], key="templates_import")
        if upload is not None and st.button("Importer ce fichier", key="templates_import_go"):
            try:
                with db.session_scope() as session:
                    report = templates.import_json(session, upload.getvalue().decode("utf-8-sig"),
                                                   actor=users.get(session, user.id))
            except (UserError, UnicodeDecodeError) as err:
                st.error(str(err) if isinstance(err, UserError) else "Le fichier n'est pas du texte UTF-8.")
            else:
                bump()
                st.success(f"{report.created} modèle(s) créé(s), {report.updated} mis à jour.")
                for item in report.refused:
                    reasons = " ".join(m for msgs in item["problems"].values() for m in msgs)
                    label = item['name'] or 'élément ' + str(item['index'] + 1)
                    st.error(f"Refusé : {as_text(label)} — {as_text(reasons)}")
    with c2:
        with db.session_scope() as session:
            exported = templates.export_json(session)
        st.download_button("Exporter tous les modèles (JSON)", exported.encode("utf-8"), file_name="modeles.json",
                           mime="application/json")
        sandbox = get_settings().sandbox
        if st.button("Synchroniser avec Respond.io", disabled=sandbox, key="templates_sync",
                     help="Disponible avec un jeton Respond.io." if sandbox else None):
            try:
                with respondio.opened() as provider:
                    remote = provider.list_templates()
                with db.session_scope() as session:
                    report = templates.sync(session, remote, actor=users.get(session, user.id))
            except respondio.ProviderError as err:
                st.error(f"Respond.io n'a pas pu donner la liste des modèles : {as_text(err)}")
            else:
                bump()
                st.success(f"Synchronisation : {report.created} nouveau(x), {report.updated} mis à jour, "
                           f"{report.unchanged} inchangé(s).")


# --- screen ------------------------------------------------------------------------------------

rows = template_rows(get_settings().database_url, st.session_state.get("templates_version", 0))
if rows:
    _shell.table(pd.DataFrame(rows).set_index("id").rename_axis("N°"), width="stretch")
else:
    st.info("Aucun modèle. Créez-en un, importez un fichier JSON ou synchronisez avec Respond.io.")

titles = {r["id"]: f"{r['Nom']} ({r['Langue']}) — {r['Statut']}" for r in rows}
options = ([NEW] if can_edit else []) + list(titles)
if "template_choice_next" in st.session_state:  # set by a save or a delete on the previous run
    st.session_state["template_choice"] = st.session_state.pop("template_choice_next")
if options:
    choice = st.selectbox("Modèle", options, key="template_choice",
                          format_func=lambda i: "➕ Nouveau modèle" if i == NEW else titles[i])
    current = load(choice)
    problems = st.session_state.get(f"t{choice}_problems", {})
    summary = st.container()  # filled once the fields are read: the problems, each a link to its field
    left, right = st.columns([3, 2])
    with left:
        data = editor(choice, current, problems)
        anchor("variable_mapping")
        st.markdown("**Correspondance des variables** (valeurs par défaut des campagnes)")
        data["variable_mapping"] = mapping_editor(f"t{choice}_m_", data, current.get("variable_mapping") or {},
                                                   disabled=not can_edit)
        problems_for(problems, "variable_mapping")
        live = templates.validate(templates.clean(data))
        live_mapping = templates.validate_mapping(data, data["variable_mapping"])
        if can_edit:
            problems_summary(summary, {**live, **({"variable_mapping": live_mapping} if live_mapping else {})})
    with right:
        contact = preview(choice, data, data["variable_mapping"])
    if can_edit:
        actions(choice, data, contact)
if can_edit:
    st.divider()
    import_export()
