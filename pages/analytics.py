"""Statistiques: whether messages reach people, are read and get answers, why they fail, and what
the chatbot does. Every figure is an SQL aggregation (core/analytics.py), cached for a minute."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from core import analytics, campaigns, db, exports, fmt, labels, segments, templates
from core.config import get_settings
from core.figures import HELP, LABELS, RATE_LABELS
from core.text import slug
from core.timeutil import format_dt, local_tz, utcnow
from pages import _charts, _shell

user, can_edit = _shell.require("analytics")
_shell.header("analytics", "Les chiffres de remise, de lecture et de réponse des messages, et l'activité de "
                           "l'assistant virtuel.")


@st.cache_data(ttl=60, show_spinner="Calcul des chiffres…")
def figures(url: str, f: analytics.Filters) -> dict:
    with db.session_scope(url) as session:
        return {**analytics.compute(session, f), "computed_at": utcnow()}


def downloads(name: str, frame: pd.DataFrame, what: str) -> None:
    """The table under a chart, as CSV and as Excel; each button says what it holds."""
    header, rows = list(frame.columns), frame.astype(object).values.tolist()
    c1, c2, _ = st.columns([2, 2, 3])
    c1.download_button(f"{what} (CSV)", exports.to_csv(header, rows), f"{name}.csv", "text/csv", key=f"csv_{name}",
                       icon=":material/download:", width="stretch")
    c2.download_button(f"{what} (Excel)", exports.to_xlsx(header, rows, sheet=name[:30]), f"{name}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"xlsx_{name}",
                       icon=":material/download:", width="stretch")


# --- filters -----------------------------------------------------------------------------------

with db.session_scope() as session:
    campaign_names = campaigns.names(session, limit=500)
    template_names = templates.names(session)
    segment_names = segments.names(session)
today = utcnow().astimezone(local_tz()).date()
c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
period = c1.date_input("Période", (today - timedelta(days=29), today), format="DD/MM/YYYY", key="an_period")
chosen = c2.multiselect("Campagnes", list(campaign_names), format_func=campaign_names.get, key="an_campaigns",
                        placeholder="Toutes")
template = c3.selectbox("Modèle", [None, *template_names], format_func=lambda t: "Tous" if t is None else
                        template_names[t], key="an_template")
segment = c4.selectbox("Segment", [None, *segment_names], format_func=lambda s: "Tous" if s is None else
                       segment_names[s], key="an_segment", help="Les campagnes envoyées à ce segment.")
if not isinstance(period, tuple) or len(period) != 2:
    st.info("Choisissez une date de début et une date de fin.")
    st.stop()
note, refresh = st.columns([5, 1], vertical_alignment="center")
if refresh.button("Actualiser", key="an_refresh", icon=":material/refresh:", width="stretch"):
    figures.clear()
filters = analytics.Filters(period[0], period[1], tuple(chosen), template, segment)
data = figures(get_settings().database_url, filters)
k, before = data["kpis"], data["before"]
note.caption(f"Chiffres calculés le {format_dt(data['computed_at'], with_seconds=True)} (heure de Libreville), "
             "gardés une minute ; « Actualiser » les recalcule.")

# --- KPI cards ---------------------------------------------------------------------------------


def delta(key: str) -> str | None:
    return None if before[key] == k[key] else fmt.signed(k[key] - before[key])


def share(key: str) -> str:
    return f"{_shell.nf(k[key])} ({fmt.percent(k['rates'].get(key, 0))})"


cards = [("Contacts", _shell.nf(k["contacts"]), None, "Contacts enregistrés (hors effacés)."),
         ("Consentement donné", fmt.percent(k["opted_in_share"]), None, "Part des contacts qui ont donné leur accord."),
         ("Désinscriptions", _shell.nf(k["opt_outs"]), delta("opt_outs"), "Désinscriptions reçues sur la période."),
         ("Campagnes", _shell.nf(k["campaigns"]), delta("campaigns"), "Campagnes ayant envoyé sur la période."),
         (LABELS["sent"], _shell.nf(k["sent"]), delta("sent"), HELP["sent"]),
         (LABELS["delivered"], share("delivered"), delta("delivered"), HELP["delivered"]),
         (LABELS["read"], share("read"), delta("read"), HELP["read"]),
         (LABELS["failed"], share("failed"), delta("failed"), HELP["failed"]),
         ("Réponses", _shell.nf(k["replied"]), delta("replied"), HELP["replied"]),
         ("Questions traitées par l'assistant", _shell.nf(k["bot_answered"]), delta("bot_answered"),
          "Questions reçues sur WhatsApp auxquelles l'assistant a répondu (les essais du personnel ne comptent pas)."),
         ("Transmises à un agent", _shell.nf(k["bot_handed_over"]), delta("bot_handed_over"),
          "Questions reçues sur WhatsApp que l'assistant a confiées à un agent."),
         ("Dépense estimée", fmt.fcfa(k["spend_fcfa"]), delta("spend_fcfa"),
          "Messages remis × prix de leur catégorie.")]
for row in range(0, len(cards), 4):
    for column, (label, value, change, meaning) in zip(st.columns(4), cards[row:row + 4], strict=False):
        column.metric(label, value, change, delta_color="inverse" if label in ("Échecs", "Désinscriptions") else
                      "normal", help=meaning + (" La flèche : la variation par rapport à la période précédente de même "
                                                "durée." if change else ""))

if not k["sent"] and not data["chatbot"]["per_day"]:
    st.info("Aucun message envoyé sur cette période. Élargissez la période ou lancez une campagne depuis l'écran "
            "« Campagnes » : ses chiffres apparaîtront ici.")
    st.stop()

campaigns_tab, breakdown_tab, times_tab, failures_tab, bot_tab = st.tabs(
    ["Campagnes", "Répartitions", "Délais et horaires", "Échecs", "Assistant virtuel"])
STEPS = ("sent", "delivered", "read", "replied")


def rates_table(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """The funnel as a table (and its exports): counts, and rates in % with one decimal."""
    table = frame.rename(columns={"label": label, **LABELS,
                                  **{f"{key}_rate": f"{name} (%)" for key, name in RATE_LABELS.items()}})
    for name in RATE_LABELS.values():
        table[f"{name} (%)"] = (table[f"{name} (%)"] * 100).round(1)
    return table


with campaigns_tab:
    funnel = pd.DataFrame(data["funnel"])
    if funnel.empty:
        st.info("Aucune campagne n'a envoyé de message sur cette période.")
    else:
        _charts.show(_charts.bars(list(funnel["campaign"]), {LABELS[key]: list(funnel[key]) for key in STEPS},
                                  title="Entonnoir envoyé → remis → lu → répondu", x_title="Campagne",
                                  y_title="Messages"), key="funnel_chart")
        table = rates_table(funnel.drop(columns=["campaign_id"]).rename(columns={"campaign": "label",
                                                                                "opt_outs": "Désinscriptions"}),
                            "Campagne")
        st.caption("Comparaison des campagnes, pour les messages envoyés pendant la période choisie (une campagne "
                   "à cheval sur la période y compte moins que dans la liste des campagnes) ; taux en % des envois ; "
                   f"désinscriptions dans les {get_settings().reply_attribution_days} jours suivant un message de la "
                   "campagne.")
        _shell.table(table, hide_index=True, width="stretch")
        downloads("entonnoir_campagnes", table, "Comparaison des campagnes")
    series = pd.DataFrame(data["over_time"])
    if not series.empty:
        by_hour = (filters.end - filters.start).days < 7
        x = [_charts.bucket_label(b, by_hour=by_hour) for b in series["bucket"]]
        _charts.show(_charts.bars(x, {LABELS[key]: list(series[key]) for key in ("sent", "delivered", "read")},
                                  title="Envois par heure" if by_hour else "Envois par jour",
                                  x_title="Heure de Libreville" if by_hour else "Jour", y_title="Messages"),
                     key="time_chart")
        downloads("envois_dans_le_temps", pd.DataFrame({
            "Heure de Libreville" if by_hour else "Jour": [format_dt(b) if by_hour else b.strftime("%d/%m/%Y")
                                                           for b in series["bucket"]],
            **{LABELS[key]: series[key] for key in ("sent", "delivered", "read")}}), "Envois dans le temps")

with breakdown_tab:
    choices = {"template": "Modèle", "category": "Catégorie de modèle", "segment": "Segment",
               **{f"attribute:{key}": labels.attribute(key) for key in data["attributes"]}}
    by = st.selectbox("Répartir par", list(choices), format_func=choices.get, key="an_breakdown",
                      help="Les segments sont ceux auxquels les campagnes ont été envoyées ; les attributs sont ceux "
                           "des contacts (ANALYTICS_ATTRIBUTES).")
    rows = data["attributes"][by.split(":", 1)[1]] if by.startswith("attribute:") else data["breakdowns"][by]
    frame = pd.DataFrame(rows)
    if frame.empty:
        st.info("Aucun envoi sur cette période pour cette répartition.")
    else:
        _charts.show(_charts.bars(list(frame["label"]), {LABELS[key]: list(frame[f"{key}_rate"])
                                                         for key in ("delivered", "read", "replied")},
                                  title=f"Remise, lecture et réponse par {choices[by].lower()}", x_title=choices[by],
                                  y_title="Part des envois", percent=True), key="breakdown_chart")
        table = rates_table(frame, choices[by])
        _shell.table(table, hide_index=True, width="stretch")
        downloads(f"repartition_{slug(choices[by])}", table, f"Répartition par {choices[by].lower()}")

with times_tab:
    d = data["delays"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Délai de remise, médiane", fmt.seconds(d["delivery"]["median"]))
    c2.metric("Délai de remise, 90 %", fmt.seconds(d["delivery"]["p90"]))
    c3.metric("Délai de lecture, médiane", fmt.seconds(d["read"]["median"]))
    c4.metric("Délai de lecture, 90 %", fmt.seconds(d["read"]["p90"]))
    grid = pd.DataFrame(data["by_hour"])
    if not grid.empty:
        cells = {(r["weekday"], r["hour"]): r["read_rate"] for r in data["by_hour"]}
        hours = list(range(24))  # every hour, the ones without sends left blank
        _charts.show(_charts.heatmap([f"{h}{fmt.NBSP}h" for h in hours], list(fmt.WEEKDAYS),
                                     [[cells.get((day, h)) for h in hours] for day in range(7)],
                                     title="Taux de lecture selon l'heure et le jour d'envoi",
                                     x_title="Heure d'envoi (Libreville)", colorbar="Lus"), key="hour_chart")
        downloads("lecture_par_heure", pd.DataFrame({
            "Jour": [fmt.WEEKDAYS[n] for n in grid["weekday"]], "Heure d'envoi": grid["hour"],
            LABELS["sent"]: grid["sent"], LABELS["read"]: grid["read"],
            "Taux de lecture (%)": (grid["read_rate"] * 100).round(1)}), "Lecture par heure et jour")
    delay_table = pd.DataFrame([{"Délai": label, "Messages": d[kind]["n"], "Médiane (s)": d[kind]["median"],
                                 "90 % (s)": d[kind]["p90"]} for kind, label in (("delivery", "Envoi → remise"),
                                                                                ("read", "Envoi → lecture"))])
    downloads("delais", delay_table, "Délais")

with failures_tab:
    failures = pd.DataFrame(data["failures"])
    if failures.empty:
        st.success("Aucun échec sur cette période.")
    else:
        table = failures.rename(columns={"code": "Code WhatsApp", "meaning": "Signification", "count": "Messages"})
        _charts.show(_charts.bars([str(c) for c in table["Code WhatsApp"]], {LABELS["failed"]: list(table["Messages"])},
                                  title="Échecs par code d'erreur WhatsApp", x_title="Code WhatsApp",
                                  y_title="Messages", hover=list(table["Signification"])), key="failures_chart")
        _shell.table(table, hide_index=True, width="stretch")
        downloads("echecs", table, "Échecs par code")

with bot_tab:
    bot = data["chatbot"]
    per_day = pd.DataFrame(bot["per_day"])
    if per_day.empty:
        st.info("Aucune question posée à l'assistant sur WhatsApp pendant cette période.")
    else:
        days = [fmt.day(date.fromisoformat(day)) for day in per_day["day"]]
        _charts.show(_charts.bars(days, {"Traitées par l'assistant": list(per_day["answered"]),
                                         "Transmises à un agent": list(per_day["handed_over"])},
                                  title="Questions reçues sur WhatsApp, par jour", x_title="Jour",
                                  y_title="Questions", stacked=True), key="bot_chart")
        downloads("assistant_par_jour", pd.DataFrame({
            "Jour": [date.fromisoformat(day).strftime("%d/%m/%Y") for day in per_day["day"]],
            "Questions": per_day["questions"], "Refusées": per_day["refused"],
            "Transmises à un agent": per_day["handed_over"], "Traitées par l'assistant": per_day["answered"]}),
            "Questions par jour")
    if bot["topics"]:
        st.markdown("**Sujets les plus demandés** (le document sur lequel la réponse s'appuie)")
        topics = pd.DataFrame(bot["topics"]).rename(columns={"topic": "Sujet", "count": "Questions"})
        _shell.table(topics, hide_index=True)
        downloads("assistant_sujets", topics, "Sujets")
    if bot["thumbs_down"]:
        st.markdown("**Réponses jugées pas utiles** (par les agents, essais compris)")
        disliked = pd.DataFrame([{"Date": format_dt(t["at"]), "Question": t["question"], "Réponse": t["answer"],
                                  "Commentaire": t["comment"]} for t in bot["thumbs_down"]])
        _shell.table(disliked, hide_index=True, width="stretch")
        downloads("assistant_avis_negatifs", disliked, "Avis négatifs")
