"""Contacts: search, a contact's record, consent, import, export, erasure."""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core import db, fmt, labels, phones, segments
from core.contacts import importer, service
from core.contacts.reader import Table, preview
from core.errors import UserError
from core.models import ConsentStatus
from core.text import as_text
from core.timeutil import format_dt
from pages import _shell

user, can_edit = _shell.require("contacts")
_shell.header("contacts", "Les assurés, pensionnés et employeurs que la CNSS peut joindre sur WhatsApp, "
                          "avec leur consentement.", read_only=not can_edit)

PAGE_SIZE = 50
CONSENT_CHOICES = ["", *(s.value for s in ConsentStatus)]


def consent_label(value: str) -> str:
    return labels.CONSENT.get(ConsentStatus(value), value) if value else "Tous"


# --- search ------------------------------------------------------------------------------------

def search_tab() -> None:
    with db.session_scope() as session:
        figures = service.counts(session)
        all_segments = [(s.id, s.name) for s in segments.list_all(session)]
    cols = st.columns(4)
    cols[0].metric("Contacts", fmt.number(figures['total']))
    cols[1].metric("Consentement donné", fmt.number(figures['opted_in']))
    cols[2].metric("Inconnu", fmt.number(figures['unknown']))
    cols[3].metric("Désinscrits", fmt.number(figures['opted_out']))

    c1, c2, c3 = st.columns([3, 1, 1])
    text = c1.text_input("Rechercher", placeholder="Numéro (tout format), nom, matricule, agence…", key="q")
    consent = c2.selectbox("Consentement", CONSENT_CHOICES, format_func=consent_label, key="q_consent")
    segment_names = dict(all_segments)
    segment_id = c3.selectbox("Segment", [None, *segment_names], format_func=lambda i: "Tous" if i is None
                              else segment_names[i], key="q_segment")
    query = service.SearchQuery(text=text, consent=consent or None, segment_id=segment_id)
    if st.session_state.get("q_last") != query:
        st.session_state["q_last"], st.session_state["q_page"] = query, 0
    page_no = st.session_state.get("q_page", 0)
    with db.session_scope() as session:
        result = service.search(session, query, page=page_no, page_size=PAGE_SIZE)
        rows = [{"id": c.id, "Téléphone": c.phone, "Prénom": c.first_name or "", "Nom": c.last_name or "",
                 "Consentement": consent_label(c.consent_status),
                 "Attributs": ", ".join(f"{k} : {v}" for k, v in (c.attributes or {}).items()),
                 "Ajouté le": format_dt(c.created_at)} for c in result.rows]
    st.caption(f"{result.total} contact(s) trouvé(s) — page {page_no + 1} sur {result.pages}")
    if not rows:
        st.info("Aucun contact ne correspond. Vérifiez l'orthographe, ou importez des contacts dans l'onglet "
                "« Importer ».")
        return
    event = _shell.table(pd.DataFrame(rows).set_index("id").rename_axis("N°"), width="stretch", on_select="rerun",
                         selection_mode="single-row", key="contacts_table")
    p1, _, p3 = st.columns([1, 3, 1])
    if p1.button("← Précédents", disabled=page_no == 0):
        st.session_state["q_page"] = page_no - 1
        st.rerun()
    if p3.button("Suivants →", disabled=page_no + 1 >= result.pages):
        st.session_state["q_page"] = page_no + 1
        st.rerun()
    selected = event.selection.rows if event and event.selection else []
    titles = {r["id"]: f"{r['Prénom']} {r['Nom']} — {r['Téléphone']}".strip() for r in rows}
    chosen = rows[selected[0]]["id"] if selected else st.selectbox(
        "Ouvrir la fiche de", [None, *titles], format_func=lambda i: "Choisir un contact (ou cliquer une ligne)"
        if i is None else titles[i], key="open_contact")
    if chosen is not None:
        contact_panel(chosen)
    export_block(query)


def contact_panel(contact_id: int) -> None:
    with db.session_scope() as session:
        try:
            rec = service.record(session, contact_id)
        except UserError as err:
            st.warning(str(err))
            return
        c = rec.contact
        st.subheader(as_text(f"{c.first_name or ''} {c.last_name or ''}".strip() or c.phone))
        c1, c2, c3 = st.columns(3)
        c1.markdown(f"**Téléphone** : {as_text(c.phone)}  \n**Langue** : {as_text(c.language)}")
        c2.markdown(f"**Consentement** : {consent_label(c.consent_status)}  \n"
                    f"**Source** : {as_text(c.consent_source or '—')}  \n"
                    f"**Depuis le** : {format_dt(c.consent_at) or '—'}")
        window = format_dt(c.window_expires_at) if c.window_expires_at else "fermée"
        c3.markdown(f"**Fenêtre de 24 h** : {window}  \n**Segments** : "
                    f"{as_text(', '.join(s.name for s in rec.segments) or 'aucun')}")
        marks = {mark: getattr(c, f"{mark}_at") for mark in service.WHATSAPP_MARKS}
        for mark, since in marks.items():
            if since is not None:
                st.warning(f"WhatsApp : {service.WHATSAPP_MARKS[mark]} depuis le {format_dt(since)}"
                           + (" (deux envois refusés, code 131026) : ce contact est écarté des campagnes."
                              if mark == "not_on_whatsapp" else
                              " (code 131050) : ce contact est écarté des campagnes marketing."))
        if c.attributes:
            st.table(pd.DataFrame({"Attribut": list(c.attributes), "Valeur": [str(v) for v in c.attributes.values()]}))
        tabs = st.tabs(["Messages", "Historique du consentement"])
        with tabs[0]:
            if rec.messages:
                _shell.table(pd.DataFrame([{"Date": format_dt(m["at"]), "Sens": "Reçu" if m["direction"] == "inbound"
                                            else "Envoyé", "Message": m["text"],
                                            "Statut": labels.MESSAGE_STATUS.get(m["status"] or "", m["status"] or ""),
                                            "Erreur": m["error_code"] or ""} for m in rec.messages]),
                             hide_index=True, width="stretch")
            else:
                st.caption("Aucun message envoyé ou reçu.")
        with tabs[1]:
            _shell.table(pd.DataFrame([{"Date": format_dt(e.at), "Statut": consent_label(e.status),
                                        "Source": "WhatsApp (message de la personne)" if e.source == "whatsapp"
                                        else e.source, "Motif": e.reason or ""} for e in rec.consent_history]),
                         hide_index=True, width="stretch")
        status, phone = c.consent_status, c.phone
    if not can_edit:
        return
    for mark, since in marks.items():
        if since is not None and st.button(f"Retirer la mention « {service.WHATSAPP_MARKS[mark]} »",
                                           key=f"clear_{mark}_{contact_id}"):
            if _shell.act(lambda s, m=mark: service.clear_whatsapp_mark(s, service.get(s, contact_id), m,
                                                                       actor=_shell.me(s))):
                st.toast("Mention retirée.")
                st.rerun()
    with st.form(f"consent_{contact_id}"):
        st.markdown("**Modifier le consentement**")
        target = ConsentStatus.OPTED_IN if status != ConsentStatus.OPTED_IN else ConsentStatus.OPTED_OUT
        new = st.radio("Nouveau statut", [ConsentStatus.OPTED_IN.value, ConsentStatus.OPTED_OUT.value],
                       index=0 if target == ConsentStatus.OPTED_IN else 1, format_func=consent_label, horizontal=True)
        reason = st.text_input("Motif (obligatoire)", placeholder="Ex. : demande de la personne au centre d'appels")
        if st.form_submit_button("Enregistrer le consentement"):
            if _shell.act(lambda s: service.set_consent(s, service.get(s, contact_id), new, reason=reason,
                                                        actor=_shell.me(s))):
                st.toast("Consentement enregistré.")
                st.rerun()
    with st.expander("Effacer ce contact (droit à l'effacement)"):
        st.warning("Les données personnelles (numéro, nom, attributs, textes des messages) seront supprimées "
                   "définitivement. Les chiffres des campagnes sont conservés sans nom.")
        ref = st.text_input("Référence de la demande", key=f"erase_ref_{contact_id}")
        confirm = st.text_input(f"Pour confirmer, recopiez le numéro {phone}", key=f"erase_confirm_{contact_id}")
        if st.button("Effacer définitivement", type="primary", key=f"erase_{contact_id}"):
            if phones.normalize(confirm).e164 != phone:
                st.error("Le numéro recopié ne correspond pas : rien n'a été effacé.")
            else:
                if _shell.act(lambda s: service.erase(s, service.get(s, contact_id), reason=ref, actor=_shell.me(s))):
                    st.success("Contact effacé.")
                    st.rerun()


def export_block(query: service.SearchQuery) -> None:
    with st.expander("Exporter ce résultat"):
        fmt = st.radio("Format", ["CSV", "Excel (XLSX)"], horizontal=True, key="export_fmt")
        if st.button("Préparer l'export", key="export_go"):
            kind = "csv" if fmt == "CSV" else "xlsx"
            with db.session_scope() as session:
                data, count = service.export(session, query, kind)
            st.download_button(f"Télécharger {count} contact(s)", data, file_name=f"contacts.{kind}",
                               mime="text/csv" if kind == "csv" else
                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# --- import ------------------------------------------------------------------------------------

TARGETS = ["phone", "first_name", "last_name", "language", "consent", "attribute", "ignore"]


def import_tab() -> None:
    """Upload, preview, map the columns, choose the options, import: one function per step."""
    if not can_edit:
        st.info("Votre rôle ne permet pas d'importer des contacts.")
        return
    upload = st.file_uploader("Fichier CSV ou Excel (.xlsx)", type=["csv", "txt", "xlsx"], key="import_file")
    if upload is None:
        st.caption("Séparateurs , ; ou tabulation et encodages UTF-8 ou Windows (Latin-1) sont reconnus. "
                   "La première ligne doit contenir les noms des colonnes.")
        return
    folder = Path(tempfile.gettempdir()) / "cnss-imports"
    folder.mkdir(exist_ok=True)
    path = folder / f"{st.session_state.setdefault('upload_id', uuid.uuid4().hex)}-{Path(upload.name).name}"
    path.write_bytes(upload.getvalue())
    table = preview_step(path, upload.name)
    if table is None:
        return
    mapping = mapping_step(table.header)
    choices = options_step()
    if not st.button("Importer", type="primary", key="import_go"):
        return
    try:
        importer.validate_mapping(mapping, table.header)
    except UserError as err:
        st.error(as_text(err))
        return
    result = run_import(path, upload.name, importer.ImportOptions(mapping=mapping, **choices), folder)
    if result is not None:
        show_result(result)


def preview_step(path: Path, name: str) -> Table | None:
    """The file's first lines as read (separator, encoding), or None after a French error."""
    try:
        table, sample = preview(path, name)
    except UserError as err:
        st.error(as_text(err))
        return None
    details = f"{len(table.header)} colonnes"
    if table.kind == "csv":
        separator = labels.CSV_SEPARATOR.get(table.separator or ",", table.separator)
        details += f", séparateur {separator}, encodage {table.encoding}"
    st.caption(f"Aperçu des premières lignes ({details})")
    _shell.table(pd.DataFrame(sample, columns=table.header).astype(str), hide_index=True, width="stretch")
    return table


def mapping_step(header: list[str]) -> dict[str, str]:
    """Where each column goes, guessed from its name and corrected by the user."""
    st.markdown("**Correspondance des colonnes**")
    auto = importer.auto_mapping(header)
    mapping: dict[str, str] = {}
    cols = st.columns(min(4, len(header)) or 1)
    for i, column in enumerate(header):
        guess = auto[column]
        kind = guess if guess in TARGETS else "attribute"
        chosen = cols[i % len(cols)].selectbox(column, TARGETS, index=TARGETS.index(kind),
                                                format_func=labels.IMPORT_FIELD.get, key=f"map_{i}")
        mapping[column] = guess if chosen == "attribute" and guess.startswith("attribute:") else (
            f"attribute:{guess.split(':', 1)[-1]}" if chosen == "attribute" else chosen)
    return mapping


def options_step() -> dict[str, Any]:
    """Known contacts kept or updated, consent, and the segment the contacts join."""
    with db.session_scope() as session:
        static_names = [s.name for s in segments.list_all(session) if s.kind == "static"]
    c1, c2 = st.columns(2)
    update_existing = c1.radio("Contacts déjà connus (même numéro)",
                               ["Les garder tels quels", "Mettre à jour leurs champs"],
                               key="import_update") == "Mettre à jour leurs champs"
    consent = c1.checkbox("Les personnes de ce fichier ont accepté de recevoir les messages de la CNSS",
                          key="import_consent")
    segment = c2.selectbox("Ajouter au segment", ["", *static_names], key="import_segment",
                           format_func=lambda n: n or "Aucun")
    new_segment = c2.text_input("… ou créer un nouveau segment", key="import_new_segment")
    st.caption("Les contacts désinscrits restent désinscrits, quoi que dise le fichier.")
    return {"update_existing": update_existing, "segment": new_segment.strip() or segment or None,
            "consent": "opted_in" if consent else "unknown"}


def run_import(path: Path, name: str, options: importer.ImportOptions, folder: Path) -> importer.ImportResult | None:
    """The import in one transaction, with a progress bar; None when it was cancelled (nothing written)."""
    bar = st.progress(0.0, text="Lecture du fichier…")

    def progress(rows: int, share: float | None, phase: str) -> None:
        bar.progress(min(share or 0.0, 0.99), text=f"{phase} : {fmt.number(rows)} lignes")

    try:
        with db.session_scope() as session:
            result = importer.import_file(session, path, options, filename=name, actor=_shell.me(session),
                                          progress=progress, rejects_dir=folder)
    except UserError as err:
        bar.empty()
        st.error(f"Import annulé, la base n'a pas changé : {as_text(err)}")
        return None
    except Exception:
        bar.empty()

        logging.getLogger(__name__).exception("Contact import failed")
        st.error("Import annulé à cause d'une erreur inattendue : la base n'a pas changé. "
                 "L'erreur est dans le journal.")
        return None
    finally:
        path.unlink(missing_ok=True)
    bar.progress(1.0, text="Import terminé")
    return result


def show_result(result: importer.ImportResult) -> None:
    st.success(f"Import terminé en {fmt.seconds(result.seconds)}.")
    cols = st.columns(6)
    for col, (label, value) in zip(cols, [("Lignes lues", result.rows), ("Créés", result.created),
                                          ("Mis à jour", result.updated), ("Inchangés", result.unchanged),
                                          ("Doublons dans le fichier", result.duplicates_in_file),
                                          ("Rejetés", result.rejected)], strict=True):
        col.metric(label, value)
    if result.rejected_by_reason:
        st.table(pd.DataFrame({"Motif de rejet": [phones.reason_label(r) for r in result.rejected_by_reason],
                               "Lignes": list(result.rejected_by_reason.values())}))
    if result.rejects_csv is not None and result.rejects_csv.exists():
        st.download_button("Télécharger les lignes rejetées (CSV)", result.rejects_csv.read_bytes(),
                           file_name="lignes-rejetees.csv", mime="text/csv")
        result.rejects_csv.unlink(missing_ok=True)


tab_search, tab_import = st.tabs(["Rechercher", "Importer"])
with tab_search:
    search_tab()
with tab_import:
    import_tab()
