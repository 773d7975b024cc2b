"""Statistiques: whether messages reach people, are read and get answers, why they fail, and what
the chatbot does. Every figure is an SQL aggregation (core/analytics.py), cached for a minute."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from core import analytics, campaigns, db, exports, segments, templates
from core.config import get_settings
from core.timeutil import format_dt, local_tz, utcnow
from pages import _shell

user, can_edit = _shell.require("analytics")
_shell.header("analytics", "Les chiffres de remise, de lecture et de réponse des messages, et l'activité de "
                           "l'assistant virtuel.")
WEEKDAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


@st.cache_data(ttl=60, show_spinner="Calcul des chiffres…")
def figures(url: str, f: analytics.Filters) -> dict:
    with db.session_scope(url) as session:
        return {**analytics.compute(session, f), "computed_at": utcnow()}


def downloads(name: str, frame: pd.DataFrame) -> None:
    header, rows = list(frame.columns), frame.astype(object).values.tolist()
    c1, c2 = st.columns(2)
    c1.download_button("CSV", exports.to_csv(header, rows), f"{name}.csv", "text/csv", key=f"csv_{name}",
                       icon=":material/download:")
    c2.download_button("Excel", exports.to_xlsx(header, rows, sheet=name[:30]), f"{name}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"xlsx_{name}",
                       icon=":material/download:")


# --- filters -----------------------------------------------------------------------------------

with db.session_scope() as session:
    campaign_names = campaigns.names(session, limit=500)
    template_names = templates.names(session)
    segment_names = segments.names(session)
today = utcnow().astimezone(local_tz()).date()
c1, c2, c3, c4, c5 = st.columns([2, 3, 2, 2, 1])
period = c1.date_input("Période", (today - timedelta(days=29), today), format="DD/MM/YYYY", key="an_period")
chosen = c2.multiselect("Campagnes", list(campaign_names), format_func=campaign_names.get, key="an_campaigns",
                        placeholder="Toutes")
template = c3.selectbox("Modèle", [None, *template_names], format_func=lambda t: "Tous" if t is None else
                        template_names[t], key="an_template")
segment = c4.selectbox("Segment", [None, *segment_names], format_func=lambda s: "Tous" if s is None else
                       segment_names[s], key="an_segment", help="Les campagnes envoyées à ce segment.")
if c5.button("Actualiser", key="an_refresh", icon=":material/refresh:"):
    figures.clear()
if not isinstance(period, tuple) or len(period) != 2:
    st.info("Choisissez une date de début et une date de fin.")
    st.stop()
filters = analytics.Filters(period[0], period[1], tuple(chosen), template, segment)
data = figures(get_settings().database_url, filters)
k, before = data["kpis"], data["before"]
st.caption(f"Chiffres calculés le {format_dt(data['computed_at'], with_seconds=True)} (heure de Libreville), "
           "gardés une minute ; « Actualiser » les recalcule.")

# --- KPI cards ---------------------------------------------------------------------------------


def delta(key: str) -> str | None:
    return None if before[key] == k[key] else f"{k[key] - before[key]:+,.0f}".replace(",", "\u202f")


cards = [("Contacts", _shell.nf(k["contacts"]), None), ("Consentement donné", f"{k['opted_in_share']:.0%}", None),
         ("Désinscriptions", _shell.nf(k["opt_outs"]), delta("opt_outs")),
         ("Campagnes", _shell.nf(k["campaigns"]), delta("campaigns")),
         ("Envoyés", _shell.nf(k["sent"]), delta("sent")),
         ("Remis", f"{_shell.nf(k['delivered'])} ({k['rates'].get('delivered', 0):.0%})", delta("delivered")),
         ("Lus", f"{_shell.nf(k['read'])} ({k['rates'].get('read', 0):.0%})", delta("read")),
         ("Échecs", f"{_shell.nf(k['failed'])} ({k['rates'].get('failed', 0):.0%})", delta("failed")),
         ("Réponses", _shell.nf(k["replied"]), delta("replied")),
         ("Questions traitées par l'assistant", _shell.nf(k["bot_answered"]), delta("bot_answered")),
         ("Transmises à un agent", _shell.nf(k["bot_handed_over"]), delta("bot_handed_over")),
         ("Dépense estimée", f"{_shell.nf(k['spend_fcfa'])} FCFA", delta("spend_fcfa"))]
for row in range(0, len(cards), 4):
    for column, (label, value, change) in zip(st.columns(4), cards[row:row + 4], strict=False):
        column.metric(label, value, change, delta_color="inverse" if label in ("Échecs", "Désinscriptions") else
                      "normal", help="Variation par rapport à la période précédente de même durée." if change else None)

if not k["sent"] and not data["chatbot"]["per_day"]:
    st.info("Aucun message envoyé sur cette période. Élargissez la période ou lancez une campagne depuis l'écran "
            "« Campagnes » : ses chiffres apparaîtront ici.")
    st.stop()

campaigns_tab, breakdown_tab, times_tab, failures_tab, bot_tab = st.tabs(
    ["Campagnes", "Répartitions", "Délais et horaires", "Échecs", "Assistant virtuel"])
FUNNEL_COLUMNS = {"sent": "Envoyés", "delivered": "Remis", "read": "Lus", "replied": "Répondus", "failed": "Échecs",
                  "delivered_rate": "Taux de remise", "read_rate": "Taux de lecture", "replied_rate": "Taux de réponse"}


def rates_table(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    table = frame.rename(columns={"label": label, **FUNNEL_COLUMNS})
    for column in ("Taux de remise", "Taux de lecture", "Taux de réponse"):
        table[column] = (table[column] * 100).round(1)
    return table
with campaigns_tab:
    funnel = pd.DataFrame(data["funnel"])
    if funnel.empty:
        st.info("Aucune campagne n'a envoyé de message sur cette période.")
    else:
        long = funnel.melt(id_vars=["campaign"], value_vars=["sent", "delivered", "read", "replied"],
                           var_name="étape", value_name="messages")
        long["étape"] = long["étape"].map({"sent": "Envoyés", "delivered": "Remis", "read": "Lus",
                                           "replied": "Répondus"})
        st.plotly_chart(px.bar(long, x="campaign", y="messages", color="étape", barmode="group",
                               labels={"campaign": "Campagne"}, title="Entonnoir envoyé → remis → lu → répondu"),
                        key="funnel_chart")
        table = rates_table(funnel.drop(columns=["campaign_id"]).rename(columns={"campaign": "label",
                                                                                "opt_outs": "Désinscriptions"}),
                            "Campagne")
        st.caption("Comparaison des campagnes (taux en % des envois ; désinscriptions dans les "
                   f"{get_settings().reply_attribution_days} jours suivant un message de la campagne).")
        st.dataframe(table, hide_index=True, width="stretch")
        downloads("entonnoir_campagnes", table)
    series = pd.DataFrame(data["over_time"])
    if not series.empty:
        series = series.melt(id_vars=["bucket"], var_name="statut", value_name="messages")
        series["statut"] = series["statut"].map({"sent": "Envoyés", "delivered": "Remis", "read": "Lus"})
        st.plotly_chart(px.line(series, x="bucket", y="messages", color="statut",
                                labels={"bucket": "Heure de Libreville"}, title="Envois dans le temps"),
                        key="time_chart")
        downloads("envois_dans_le_temps", pd.DataFrame(data["over_time"]).rename(columns={
            "bucket": "Heure de Libreville", "sent": "Envoyés", "delivered": "Remis", "read": "Lus"}))

with breakdown_tab:
    choices = {"template": "Modèle", "category": "Catégorie de modèle", "segment": "Segment",
               **{f"attribute:{key}": key.replace("_", " ").capitalize() for key in data["attributes"]}}
    by = st.selectbox("Répartir par", list(choices), format_func=choices.get, key="an_breakdown",
                      help="Les segments sont ceux auxquels les campagnes ont été envoyées ; les attributs sont ceux "
                           "des contacts (ANALYTICS_ATTRIBUTES).")
    rows = data["attributes"][by.split(":", 1)[1]] if by.startswith("attribute:") else data["breakdowns"][by]
    frame = pd.DataFrame(rows)
    if frame.empty:
        st.info("Aucun envoi sur cette période pour cette répartition.")
    else:
        long = frame.melt(id_vars=["label"], value_vars=["delivered_rate", "read_rate", "replied_rate"],
                          var_name="taux", value_name="part")
        long["taux"] = long["taux"].map({"delivered_rate": "Remis", "read_rate": "Lus", "replied_rate": "Répondus"})
        st.plotly_chart(px.bar(long, x="label", y="part", color="taux", barmode="group",
                               labels={"label": choices[by], "part": "Part des envois"},
                               title=f"Remise, lecture et réponse par {choices[by].lower()}")
                        .update_yaxes(tickformat=".0%"), key="breakdown_chart")
        table = rates_table(frame, choices[by])
        st.dataframe(table, hide_index=True, width="stretch")
        downloads(f"repartition_{by.replace(':', '_')}", table)

with times_tab:
    d = data["delays"]

    def minutes(value: float | None) -> str:
        return "—" if value is None else (f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min")

    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Délai de remise, médiane", minutes(d["delivery"]["median"]))
    c2.metric("Délai de remise, 90 %", minutes(d["delivery"]["p90"]))
    c3.metric("Délai de lecture, médiane", minutes(d["read"]["median"]))
    c4.metric("Délai de lecture, 90 %", minutes(d["read"]["p90"]))
    grid = pd.DataFrame(data["by_hour"])
    if not grid.empty:
        grid["jour"] = grid["weekday"].map(lambda n: WEEKDAYS[n])
        st.plotly_chart(px.density_heatmap(grid, x="hour", y="jour", z="read_rate", histfunc="avg",
                                           category_orders={"jour": WEEKDAYS}, labels={"hour": "Heure d'envoi"},
                                           title="Taux de lecture selon l'heure et le jour d'envoi"), key="hour_chart")
        downloads("lecture_par_heure", grid.drop(columns=["weekday"]).rename(columns={
            "jour": "Jour", "hour": "Heure d'envoi", "sent": "Envoyés", "read": "Lus", "read_rate": "Taux de lecture"}))
    delay_table = pd.DataFrame([{"Délai": label, "Messages": d[kind]["n"], "Médiane (s)": d[kind]["median"],
                                 "90 % (s)": d[kind]["p90"]} for kind, label in (("delivery", "Envoi → remise"),
                                                                                ("read", "Envoi → lecture"))])
    downloads("delais", delay_table)

with failures_tab:
    failures = pd.DataFrame(data["failures"])
    if failures.empty:
        st.success("Aucun échec sur cette période.")
    else:
        table = failures.rename(columns={"code": "Code WhatsApp", "meaning": "Signification", "count": "Messages"})
        st.plotly_chart(px.bar(table, x="Code WhatsApp", y="Messages", hover_data=["Signification"],
                               title="Échecs par code d'erreur WhatsApp"), key="failures_chart")
        st.dataframe(table, hide_index=True, width="stretch")
        downloads("echecs", table)

with bot_tab:
    bot = data["chatbot"]
    per_day = pd.DataFrame(bot["per_day"])
    if per_day.empty:
        st.info("Aucune question posée à l'assistant sur cette période.")
    else:
        long = per_day.melt(id_vars=["day"], value_vars=["answered", "handed_over"], var_name="issue",
                            value_name="nombre")
        long["issue"] = long["issue"].map({"answered": "Traitées par l'assistant", "handed_over": "Transmises"})
        st.plotly_chart(px.bar(long, x="day", y="nombre", color="issue", labels={"day": "Jour", "nombre": "Questions"},
                               title="Questions par jour"), key="bot_chart")
        downloads("assistant_par_jour", per_day.rename(columns={
            "day": "Jour", "questions": "Questions", "refused": "Refusées", "handed_over": "Transmises",
            "answered": "Traitées par l'assistant"}))
    if bot["topics"]:
        st.markdown("**Sujets les plus demandés** (le document sur lequel la réponse s'appuie)")
        topics = pd.DataFrame(bot["topics"]).rename(columns={"topic": "Sujet", "count": "Questions"})
        st.dataframe(topics, hide_index=True)
        downloads("assistant_sujets", topics)
    if bot["thumbs_down"]:
        st.markdown("**Réponses jugées pas utiles**")
        disliked = pd.DataFrame([{"Date": format_dt(t["at"]), "Question": t["question"], "Réponse": t["answer"],
                                  "Commentaire": t["comment"]} for t in bot["thumbs_down"]])
        st.dataframe(disliked, hide_index=True, width="stretch")
        downloads("assistant_avis_negatifs", disliked)
