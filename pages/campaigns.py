"""Campagnes: create (wizard), launch, follow live, pause / resume / cancel, retarget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from core import (
    analytics,
    approval,
    campaign_review,
    campaigns,
    db,
    figures,
    fmt,
    labels,
    limits,
    messaging,
    respondio,
    segments,
    stats,
    templates,
)
from core.config import get_settings
from core.errors import UserError
from core.models import Campaign, CampaignStatus, Contact, Template
from core.text import as_text
from core.timeutil import format_dt, local_tz, utcnow
from pages import _shell
from pages._mapping import mapping_editor

user, can_edit = _shell.require("campaigns")
_shell.header("campaigns", "Les envois de masse : annonces, dates de paiement, rappels, avec programmation, heures "
                           "calmes, cadence et suivi en direct.", read_only=not can_edit)

STATUS_ORDER = ["pending", "sending", "sent", "delivered", "read", "failed", "skipped"]
ACTIVE = (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


# --- list --------------------------------------------------------------------------------------

def status_label(campaign: Campaign) -> str:
    if campaign.status == CampaignStatus.DRAFT and campaign.approval_status == approval.SUBMITTED:
        return "En attente de validation"
    if campaign.status == CampaignStatus.DRAFT and campaign.approval_status == approval.REJECTED:
        return "Refusée (brouillon)"
    return labels.CAMPAIGN_STATUS[CampaignStatus(campaign.status)]


def audience_now(session: Any, campaign: Campaign) -> int | None:
    """Who a campaign not started yet would reach now; None when it can no longer be worked out (a
    segment deleted by other means: the detail says so)."""
    try:
        return campaigns.estimate(session, campaign).audience.reachable
    except UserError:
        return None


@st.cache_data(ttl=30, show_spinner=False)
def listed_audience(database_url: str, campaign_id: int, shape: tuple) -> int | None:
    """The list's « Destinataires » of a campaign not started yet, counted at most every 30 s for the
    same audience (`shape`: segments, template, exclusion): the page runs again on every keystroke
    of the wizard, and each count reads the contacts. The detail counts live."""
    with db.session_scope(database_url) as session:
        return audience_now(session, campaigns.get(session, campaign_id))


def campaign_rows() -> list[dict]:
    """The list, with the figures the statistics show for the same campaign (core/figures.py). A
    campaign not started yet shows the audience it would reach now."""
    with db.session_scope() as session:
        stats.refresh(session, max_rows=analytics.SCREEN_REFRESH_ROWS)
        funnels = figures.by_campaign(session)
        rows = []
        for c in campaigns.list_all(session):
            funnel = funnels.get(c.id, figures.Funnel())
            audience = c.total_recipients
            if c.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED) and not audience:
                audience = listed_audience(get_settings().database_url, c.id, (
                    tuple(c.include_segment_ids or ()), tuple(c.exclude_segment_ids or ()), c.template_id,
                    c.exclude_recent_days))
            rows.append({"N°": c.id, "Campagne": c.name, "Statut": status_label(c),
                         "Modèle": c.template.name if c.template else "", "Destinataires": audience,
                         **{figures.LABELS[key]: getattr(funnel, key) for key in ("sent", "delivered", "read",
                                                                                   "failed")},
                         "Programmée pour": format_dt(c.scheduled_at), "Créée le": format_dt(c.created_at)})
        return rows


# --- detail ------------------------------------------------------------------------------------

@st.fragment(run_every=timedelta(seconds=2))
def live_progress(campaign_id: int) -> None:
    if not _shell.still_allowed("campaigns"):  # disabled, reset or moved to another role meanwhile
        return
    with db.session_scope() as session:
        progress = campaigns.progress(session, campaign_id)
        campaign = campaigns.get(session, campaign_id)
        quiet = campaigns.quiet_hours_end(campaign) if campaign.status == CampaignStatus.RUNNING else None
        held = limits.progress_note(session, progress.counts.get("pending", 0)) \
            if campaign.status == CampaignStatus.RUNNING else None
    total = max(progress.total, 1)
    done = sum(progress.counts.get(k, 0) for k in ("sent", "delivered", "read", "failed", "skipped"))
    st.progress(done / total, text=f"{_shell.nf(done)} / {_shell.nf(progress.total)} traités — "
                                   f"{labels.CAMPAIGN_STATUS[CampaignStatus(progress.status)]}")
    funnel = progress.funnel
    waiting = sum(progress.counts.get(k, 0) for k in figures.WAITING)
    cols = st.columns(7)
    if progress.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED, CampaignStatus.FAILED):
        cols[0].metric("Non envoyés", _shell.nf(waiting), help="Messages qui ne partiront pas : la campagne est "
                       + labels.CAMPAIGN_STATUS[CampaignStatus(progress.status)].lower() + ".")
    else:
        cols[0].metric("En attente", _shell.nf(waiting), help="Messages pas encore partis.")
    cols[1].metric(figures.LABELS["sent"], _shell.nf(funnel.sent), help=figures.HELP["sent"])
    for col, key in zip(cols[2:6], ("delivered", "read", "replied", "failed"), strict=True):
        col.metric(figures.LABELS[key], _shell.nf(getattr(funnel, key)), fmt.percent(funnel.rate(key)),
                   delta_color="off", help=figures.HELP[key])
    cols[6].metric("Écartés", _shell.nf(progress.counts.get("skipped", 0)),
                   help="Personnes écartées avant l'envoi (désinscrites, pas sur WhatsApp, variable sans valeur…) : "
                        "le motif est dans la liste des destinataires.")
    if progress.verifying:
        st.info(f"{_shell.nf(progress.verifying)} envoi(s) en vérification auprès de Respond.io : la réponse à "
                "ces envois s'est perdue (panne, délai dépassé). Chacun sera confirmé s'il est parti, renvoyé sinon, "
                "jamais envoyé deux fois.")
    if progress.unverified:
        st.warning(f"{_shell.nf(progress.unverified)} envoi(s) non vérifiable(s) : Respond.io n'a pu ni confirmer ni "
                   "infirmer leur départ. Ces personnes n'ont peut-être rien reçu ; une relance « non vérifiés » "
                   "leur renvoie le message.")
    if progress.status == CampaignStatus.RUNNING:
        eta = f" — fin estimée dans {duration(progress.eta_seconds)}" if progress.eta_seconds else ""
        st.caption(f"Cadence sur la dernière minute : {fmt.number(progress.rate_per_second, 1)} message(s)/s{eta}")
        if quiet:
            st.info(f"Heures calmes : aucun envoi avant {format_dt(quiet)}.")
        if held:
            st.info(held)
    if progress.status != st.session_state.get(f"seen_status_{campaign_id}", progress.status):
        st.session_state.pop(f"seen_status_{campaign_id}", None)
        st.rerun()
    st.session_state[f"seen_status_{campaign_id}"] = progress.status


def failures(campaign_id: int) -> None:
    with db.session_scope() as session:
        rows = campaigns.failures_by_code(session, campaign_id)
    if rows:
        st.markdown("**Échecs par code d'erreur WhatsApp**")
        _shell.table(pd.DataFrame([{"Code": respondio.code_label(code),
                                    "Signification": labels.WHATSAPP_ERROR.get(code, "Autre erreur"),
                                    "Destinataires": n} for code, n in rows]), hide_index=True, width="stretch")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def recipients_table(campaign_id: int) -> None:
    status = st.selectbox("Destinataires par statut", ["", *STATUS_ORDER], key=f"rcpt_filter_{campaign_id}",
                          format_func=lambda s: "Tous" if not s else labels.RECIPIENT_STATUS[s])
    with db.session_scope() as session:
        data = [{"Téléphone": r.phone, "Nom": f"{row.first_name or ''} {row.last_name or ''}".strip(),
                 "Statut": labels.RECIPIENT_STATUS[r.status], "Motif / erreur": _sentence(labels.skip_reason(
                     r.skip_reason)) or ("Envoi non vérifiable" if r.error_code == respondio.UNVERIFIED
                     else respondio.code_label(r.error_code) if r.error_code else ""),
                 "Envoyé le": format_dt(r.sent_at), "Remis le": format_dt(r.delivered_at),
                 "Lu le": format_dt(r.read_at)}
                for row in campaigns.recipients(session, campaign_id, status=status or None) for r in [row.recipient]]
    if data:
        _shell.table(pd.DataFrame(data), hide_index=True, width="stretch")
        st.caption("Les 200 premiers destinataires correspondant au filtre.")
    else:
        st.caption("Aucun destinataire pour ce filtre.")


def controls(campaign: Campaign) -> None:
    key = f"confirm_{campaign.id}"
    c1, c2, c3, c4 = st.columns(4)
    if campaign.status == CampaignStatus.DRAFT and campaign.approval_status not in (approval.SUBMITTED,
                                                                                    approval.REJECTED):
        try:
            with db.session_scope() as session:
                needs = approval.required(session, campaign) and campaign.approval_status != approval.APPROVED
        except UserError:  # a segment deleted by other means: the detail says so; edit and cancel still work
            needs = None
        if needs is not None and c1.button("Soumettre à validation" if needs else "Lancer", type="primary",
                                           key=f"launch_{campaign.id}"):
            st.session_state[key] = "submit" if needs else "launch"
    if campaign.status == CampaignStatus.RUNNING and c1.button("Mettre en pause", key=f"pause_{campaign.id}"):
        st.session_state[key] = "pause"
    if campaign.status == CampaignStatus.PAUSED and c1.button("Reprendre", type="primary", key=f"resume_{campaign.id}"):
        st.session_state[key] = "resume"
    if campaign.status in (CampaignStatus.DRAFT, *ACTIVE) and c2.button("Annuler la campagne",
                                                                       key=f"cancel_{campaign.id}"):
        st.session_state[key] = "cancel"
    if campaign.status == CampaignStatus.DRAFT and c3.button("Modifier le brouillon", key=f"edit_{campaign.id}"):
        _restart_wizard(wizard_from(campaign))
        st.session_state.pop(WIZARD_DONE, None)
        st.session_state["campaigns_tab_hint"] = True
        st.info("Le brouillon est chargé dans l'onglet « Nouvelle campagne ».")
    action = st.session_state.get(key)
    if action:
        messages = {"launch": "Lancer l'envoi maintenant (ou à l'heure programmée) ?",
                    "submit": "Soumettre la campagne à validation ? Elle partira quand elle sera approuvée.",
                    "pause": "Mettre la campagne en pause ? Les envois en cours se terminent, rien de nouveau ne part.",
                    "resume": "Reprendre les envois restants ?",
                    "cancel": "Annuler définitivement ? Les destinataires en attente ne recevront rien."}
        st.warning(messages[action])
        y, n = st.columns(2)
        if y.button("Confirmer", type="primary", key=f"yes_{campaign.id}"):
            act = approval.submit if action == "submit" else getattr(campaigns, action)
            if _shell.act(lambda s: act(s, campaigns.get(s, campaign.id), actor=_shell.me(s))):
                st.session_state.pop(key, None)
                st.rerun()
        if n.button("Ne rien faire", key=f"no_{campaign.id}"):
            st.session_state.pop(key, None)
            st.rerun()
    if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED):
        with st.expander("Plafond de dépense"):
            budget = budget_field({"budget": campaign.budget_fcfa}, f"budget_{campaign.id}")
            if st.button("Enregistrer le plafond", key=f"budget_save_{campaign.id}"):
                if _shell.act(lambda s: campaigns.set_budget(s, campaigns.get(s, campaign.id), budget,
                                                             actor=_shell.me(s))):
                    st.session_state["campaign_flash"] = "Plafond enregistré." + (
                        " Reprenez la campagne pour continuer l'envoi." if campaign.status == CampaignStatus.PAUSED
                        else "")
                    st.rerun()


def retarget_step(campaign: Campaign) -> None:
    """« Nouvelle campagne pour… »: each choice with how many it takes, and how many it leaves out
    because their status may still arrive."""
    with db.session_scope() as session:
        counts = campaigns.retarget_counts(session, campaign.id)
    hours = f"{fmt.decimal(get_settings().retarget_settle_hours)}"
    st.markdown("**Nouvelle campagne pour les destinataires…**")
    st.caption(f"« Non remis » et « non lus » ne reprennent que les messages partis depuis plus de {hours} h "
               f"(avant le {format_dt(next(iter(counts.values())).cutoff)}) : les statuts plus récents peuvent "
               "encore arriver. Les échecs sont repris tout de suite.")
    cols = st.columns(len(labels.RETARGET))
    for col, (which, label) in zip(cols, labels.RETARGET.items(), strict=True):
        count = counts[which]
        if col.button(f"{label} ({_shell.nf(count.settled)})", key=f"retarget_{which}_{campaign.id}"):
            done = _shell.act(lambda s, w=which: campaigns.retarget(s, campaigns.get(s, campaign.id), w,
                                                                     actor=_shell.me(s)).name)
            if done:
                st.success(f"Brouillon « {as_text(done.value)} » créé pour {_shell.nf(count.settled)} "
                           f"destinataire{'s' if count.settled > 1 else ''}.")
        if count.recent:
            col.caption(f"{_shell.nf(count.recent)} envoi{'s' if count.recent > 1 else ''} de moins de {hours} h "
                        "laissé" + ("s" if count.recent > 1 else "") + " de côté.")


def detail(campaign_id: int) -> None:
    with db.session_scope() as session:
        campaign = campaigns.get(session, campaign_id)
        template = session.get(Template, campaign.template_id)
        names = segments.names(session)
    st.subheader(as_text(campaign.name))
    st.caption(as_text(f"Modèle « {template.name if template else '?'} » — segments : "
                       f"{', '.join(names.get(i, '?') for i in campaign.include_segment_ids)}"
                       + (f" ; exclus : {', '.join(names.get(i, '?') for i in campaign.exclude_segment_ids)}"
                          if campaign.exclude_segment_ids else ""))
               + f" — cadence max {fmt.decimal(campaigns.effective_rate(campaign))}/s"
               + (f" — heures calmes {campaign.quiet_hours_start}–{campaign.quiet_hours_end}"
                  if campaign.quiet_hours_start else ""))
    if campaign.status_reason and campaign.status in (CampaignStatus.PAUSED, CampaignStatus.FAILED,
                                                      CampaignStatus.CANCELLED):
        st.warning(f"Motif : {as_text(campaign.status_reason)}")
    if campaign.status_reason and campaign.status in (CampaignStatus.RUNNING, CampaignStatus.DRAFT):
        st.info(as_text(campaign.status_reason))
    if campaign.status == CampaignStatus.SCHEDULED:
        st.info(f"Départ programmé le {format_dt(campaign.scheduled_at)} (heure de Libreville).")
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED) and not campaign.total_recipients:
        with db.session_scope() as session:
            audience = audience_now(session, campaigns.get(session, campaign_id))
        if audience is None:
            st.warning("Un segment de cette campagne n'existe plus : modifiez le brouillon pour en choisir "
                       "d'autres, ou annulez la campagne.")
        st.metric("Destinataires (si elle partait maintenant)", "—" if audience is None else _shell.nf(audience),
                  help="Les personnes des segments choisis qui peuvent la recevoir aujourd'hui ; le nombre exact est "
                       "fixé au départ.")
    approval_state(campaign)
    # Actions first, then the figures, then the recipients (a table of 200 rows would push them out of sight).
    test_group_block(campaign)
    if can_edit:
        controls(campaign)
    approval_panel(campaign)
    if campaign.status != CampaignStatus.DRAFT:
        live_progress(campaign_id)
        failures(campaign_id)
        recipients_table(campaign_id)
        if can_edit and campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED,
                                            CampaignStatus.PAUSED):
            retarget_step(campaign)


def test_group_block(campaign: Campaign) -> None:
    """With a test group (TEST_GROUP_SEGMENT): whether it has received the campaign, and the button."""
    if campaign.approval_status != approval.SUBMITTED or campaign.status != CampaignStatus.DRAFT:
        return
    try:
        with db.session_scope() as session:
            group = approval.test_group(session)
            sent_at = approval.test_group_sent_at(session, campaign) if group else None
            name = group.name if group else ""
    except UserError as err:
        st.error(as_text(err))
        return
    if not name:
        return
    if sent_at:
        st.success(f"Le groupe de test « {as_text(name)} » a reçu le message le {format_dt(sent_at)}.")
    else:
        st.warning(f"Le groupe de test « {as_text(name)} » doit recevoir le message avant toute validation.")
    if st.button("Envoyer au groupe de test", key=f"test_group_{campaign.id}"):
        done = _shell.act(lambda s: approval.send_to_test_group(s, campaigns.get(s, campaign.id), actor=_shell.me(s)))
        if done:
            st.session_state["campaign_flash"] = (f"Message envoyé aux {done.value} numéros du groupe de test : "
                                                  "vérifiez-le sur les téléphones.")
            st.rerun()


def approval_state(campaign: Campaign) -> None:
    """Where the campaign is in its approval, for everyone who opens it."""
    with db.session_scope() as session:
        who = approval.people(session, campaign)
    if campaign.approval_status == approval.SUBMITTED:
        st.info(f"En attente de validation depuis le {format_dt(campaign.submitted_at)}, soumise par "
                f"{as_text(who.get(campaign.submitted_by or 0, '?'))}.")
        if campaigns.past_start_error(campaign.scheduled_at):
            st.warning(f"Sa date de départ ({format_dt(campaign.scheduled_at)}) est passée pendant l'attente : elle ne "
                       "peut plus être approuvée telle quelle. Modifiez le brouillon et soumettez-le à nouveau.")
    elif campaign.approval_status == approval.REJECTED:
        st.warning(f"Refusée le {format_dt(campaign.decided_at)} par {as_text(who.get(campaign.decided_by or 0, '?'))} "
                   f": « {as_text(campaign.approval_comment or '')} ». Modifiez le brouillon puis soumettez-le à "
                   "nouveau.")
    elif campaign.approval_status == approval.APPROVED:
        st.caption(f"Approuvée le {format_dt(campaign.decided_at)} par "
                   f"{as_text(who.get(campaign.decided_by or 0, '?'))}"
                   + (f" : « {as_text(campaign.approval_comment)} »" if campaign.approval_comment else "") + ".")


def approval_panel(campaign: Campaign) -> None:
    """For a supervisor or an administrator who did not prepare it: the review, then approve or reject."""
    if campaign.approval_status != approval.SUBMITTED or campaign.status != CampaignStatus.DRAFT:
        return
    review, problem = None, None
    with db.session_scope() as session:
        me = _shell.me(session)
        refusal = approval.can_decide(session, campaign, me)
        if refusal is None:
            try:
                review = campaign_review.review(session, campaigns.as_input(campaign), draft_id=campaign.id)
            except UserError as err:  # a segment or the template gone meanwhile: it can still be refused
                problem = str(err)
    if refusal is not None:
        if me.role in approval.APPROVERS:
            st.caption(as_text(refusal))
        return
    st.markdown("#### Validation")
    if review is not None:
        show_review(review)
    else:
        st.error(f"La vérification est impossible : {as_text(problem)} Refusez la campagne pour que son auteur la "
                 "corrige.")
    comment = st.text_area("Commentaire (obligatoire pour refuser ; l'auteur le lira)", key=f"appr_note_{campaign.id}")
    c1, c2 = st.columns(2)
    if c1.button("Approuver et lancer", type="primary", key=f"approve_{campaign.id}"):
        done = _shell.act(lambda s: approval.approve(s, campaigns.get(s, campaign.id), actor=_shell.me(s),
                                                     comment=comment).status)
        if done:
            st.session_state["campaign_flash"] = "Campagne approuvée : " + (
                "elle part maintenant." if done.value == CampaignStatus.RUNNING else "elle partira à l'heure prévue.")
            st.rerun()
    if c2.button("Refuser", key=f"reject_{campaign.id}"):
        if _shell.act(lambda s: approval.reject(s, campaigns.get(s, campaign.id), actor=_shell.me(s),
                                                comment=comment)):
            st.session_state["campaign_flash"] = "Campagne refusée : son auteur verra votre commentaire."
            st.rerun()


# --- wizard ------------------------------------------------------------------------------------

def wizard_from(campaign: Campaign) -> dict:
    local = campaign.scheduled_at.astimezone(local_tz()) if campaign.scheduled_at else None
    return {"id": campaign.id, "name": campaign.name, "template_id": campaign.template_id,
            "include": list(campaign.include_segment_ids), "exclude": list(campaign.exclude_segment_ids),
            "rate": campaign.rate_limit, "when": "later" if local else "now", "date": local.date() if local else None,
            "time": local.time() if local else None,
            "quiet": bool(campaign.quiet_hours_start), "quiet_start": campaign.quiet_hours_start or "20:00",
            "quiet_end": campaign.quiet_hours_end or "08:00", "mapping": campaign.variable_mapping,
            "budget": campaign.budget_fcfa, "exclude_recent": campaign.exclude_recent_days is not None,
            "ends_at": campaign.ends_at}


@dataclass
class TemplateChoice:
    """Step 2's outcome: the template, the mapping this campaign uses, and the contact of the preview."""

    id: int
    category: str
    mapping: dict[str, Any]
    own: bool  # a mapping of this campaign's own, not the template's
    sample: Contact | None


WIZARD_GENERATION = "wizard_generation"
WIZARD_DONE = "wizard_done"  # (kind, French message) of the last save or launch


def _wz(name: str) -> str:
    """A wizard widget's key. A launch starts a new generation of keys: the browser keeps a widget's
    value as long as its key lives, so new keys are what empties the form."""
    generation = st.session_state.get(WIZARD_GENERATION, 0)
    return f"wz_{name}" if generation == 0 else f"wz{generation}_{name}"


def _restart_wizard(state: dict[str, Any]) -> None:
    """The wizard shows `state` (empty: a blank form), whatever the browser's widgets held."""
    old = _wz("")
    st.session_state["wizard"] = state
    st.session_state[WIZARD_GENERATION] = st.session_state.get(WIZARD_GENERATION, 0) + 1
    for key in [k for k in st.session_state if str(k).startswith(old)]:
        del st.session_state[key]


def wizard() -> None:
    """The new campaign, step by step; each step reads and keeps its answers in `st.session_state`."""
    state = st.session_state.setdefault("wizard", {})
    if WIZARD_DONE in st.session_state:
        if st.session_state.get(_wz("name")):  # a new campaign is being written: the last one's message goes
            del st.session_state[WIZARD_DONE]
        else:
            kind, message = st.session_state[WIZARD_DONE]
            (st.warning if kind == "warning" else st.success)(as_text(message))
    with db.session_scope() as session:
        segs = {s.id: s.name for s in segments.list_all(session)}
        approved = {t.id: f"{t.name} ({t.language}, {labels.TEMPLATE_CATEGORY[t.category]})"
                    for t in templates.approved(session)}
    if not segs or not approved:
        st.info("Il faut au moins un segment et un modèle approuvé pour créer une campagne.")
        return
    if state.get("id"):
        st.caption(f"Modification du brouillon n° {state['id']}.")
    name = st.text_input("Nom de la campagne", state.get("name", ""), key=_wz("name"), max_chars=campaigns.NAME_MAX)
    include, exclude, audience = audience_step(state, segs)
    choice = template_step(state, approved, include, exclude)
    scheduled, quiet_hours, rate = schedule_step(state)
    budget = budget_field(state, _wz("budget"))
    ends_at = end_field(state)
    payload = campaigns.CampaignInput(name=name, template_id=choice.id, include_segment_ids=include,
                                      exclude_segment_ids=exclude, rate_limit=rate, scheduled_at=scheduled,
                                      quiet_hours=quiet_hours, variable_mapping=choice.mapping if choice.own else None,
                                      budget_fcfa=budget, exclude_recent_days=state.get("exclude_recent_days"),
                                      ends_at=ends_at)
    test_step(choice)
    review = review_step(payload, state.get("id"))
    launch_step(state, payload, needs_approval=review is not None
                and campaigns.approval_required_for(review.audience.reachable))


def audience_step(state: dict[str, Any], segs: dict[int, str]) -> tuple[list[int], list[int], Any]:
    st.markdown("#### 1. Audience")
    include = st.multiselect("Segments inclus", list(segs), default=[i for i in state.get("include", []) if i in segs],
                             format_func=segs.get, key=_wz("include"), placeholder="Choisir un ou plusieurs segments")
    exclude = st.multiselect("Segments exclus", list(segs), default=[i for i in state.get("exclude", []) if i in segs],
                             format_func=segs.get, key=_wz("exclude"), placeholder="Aucun")
    audience = None
    if include:
        with db.session_scope() as session:
            audience = segments.count_audience(session, include, exclude)
        c1, c2, c3 = st.columns(3)
        c1.metric("Contacts sélectionnés", _shell.nf(audience.selected))
        c2.metric("Désinscrits, exclus d'office", _shell.nf(audience.opted_out))
        c3.metric("Destinataires", _shell.nf(audience.reachable))
        st.caption("Chaque personne ne reçoit qu'un message, même présente dans plusieurs segments ; les numéros "
                   "invalides ont été écartés à l'import.")
    days = get_settings().overlap_days
    recent = st.checkbox(f"Écarter les personnes qui ont reçu un message de campagne ces {days} derniers jours",
                         value=bool(state.get("exclude_recent")), key=_wz("exclude_recent"),
                         help="La vérification (étape 5) dit combien de personnes sont concernées et lesquelles.")
    state["exclude_recent_days"] = days if recent else None
    return include, exclude, audience


def template_step(state: dict[str, Any], approved: dict[int, str], include: list[int],
                  exclude: list[int]) -> TemplateChoice:
    st.markdown("#### 2. Modèle")
    options = list(approved)
    template_id = st.selectbox("Modèle approuvé", options, format_func=approved.get, key=_wz("template"),
                               index=options.index(state["template_id"]) if state.get("template_id") in options else 0)
    with db.session_scope() as session:
        template = session.get(Template, template_id)
        data, default_mapping = templates.as_dict(template), template.variable_mapping or {}
    saved = state.get("mapping") if state.get("template_id") == template_id else None
    own = st.checkbox("Adapter les variables pour cette campagne", key=_wz(f"own_{template_id}"),
                      value=saved is not None and saved != default_mapping,
                      help="Par défaut, la correspondance enregistrée avec le modèle. Cochez pour la changer pour "
                           "cette campagne seulement ; le modèle n'est pas modifié.")
    mapping = mapping_editor(_wz(f"m{template_id}_"), data, saved or default_mapping) if own else default_mapping
    with db.session_scope() as session:
        sample = segments.first_of_audience(session, include, exclude) if include else None
        rendered = templates.render(data, mapping, templates.contact_values(sample)) if sample else None
    problems = templates.validate_mapping(data, mapping)
    if problems:
        st.error("La correspondance des variables de ce modèle est incomplète : " + " ".join(problems))
    if rendered is not None and sample is not None:
        if rendered.ok:
            who = f"{sample.first_name or ''} {sample.last_name or ''}"
            st.markdown(f"Aperçu pour **{as_text(who)}** ({as_text(sample.phone)}) :")
            st.info(as_text(templates.fill(data["body"], rendered.parameters.get("body", []))))
        else:
            st.warning(f"Pour {sample.phone}, une variable n'a pas de valeur : ce contact sera écarté.")
    return TemplateChoice(template_id, template.category, mapping, own, sample)


def schedule_step(state: dict[str, Any]) -> tuple[datetime | None, str | None, int]:
    st.markdown("#### 3. Programmation et cadence")
    when = st.radio("Départ", ["now", "later"], horizontal=True, key=_wz("when"),
                    index=0 if state.get("when", "now") == "now" else 1,
                    format_func=lambda w: {"now": "Dès le lancement", "later": "À une date (heure de Libreville)"}[w])
    scheduled = None
    if when == "later":
        c1, c2 = st.columns(2)
        tomorrow = (utcnow().astimezone(local_tz()) + timedelta(days=1)).date()
        day = c1.date_input("Date", state.get("date") or tomorrow, key=_wz("date"), format="DD/MM/YYYY")
        hour = c2.time_input("Heure", state.get("time") or time(9, 0), key=_wz("time"))
        scheduled = datetime.combine(day, hour, tzinfo=local_tz())
        if error := campaigns.past_start_error(scheduled):
            st.error(error)
    quiet = st.checkbox("Respecter des heures calmes (aucun envoi la nuit)", value=state.get("quiet", True),
                        key=_wz("quiet"))
    quiet_hours = None
    if quiet:
        c1, c2 = st.columns(2)
        start = c1.text_input("Début (HH:MM)", state.get("quiet_start", "20:00"), key=_wz("quiet_start"))
        end = c2.text_input("Fin (HH:MM)", state.get("quiet_end", "08:00"), key=_wz("quiet_end"))
        quiet_hours = f"{start.strip()}-{end.strip()}"
        errors = [(column, campaigns.quiet_time_error(value)) for column, value in ((c1, start), (c2, end))]
        for column, error in errors:
            if error:
                column.error(error)
        if not any(error for _, error in errors):
            if start.strip() == end.strip():
                st.error("Le début et la fin des heures calmes sont identiques : donnez-leur une durée, ou décochez "
                         "la case.")
            else:
                departure = scheduled or utcnow()
                first = campaigns.first_send_at((start.strip(), end.strip()), departure)
                if first != departure:
                    st.info(f"Départ réel : {format_dt(first)}. "
                            f"{'Le départ choisi' if scheduled else 'Un lancement maintenant'} tombe dans les heures "
                            f"calmes ({start.strip()}–{end.strip()}) : la campagne attendra jusque-là, sans rien "
                            "envoyer.")
    cap = get_settings().max_send_rate
    rate = st.number_input(f"Cadence maximale (messages par seconde, {fmt.decimal(cap)} au plus)", 1, int(cap),
                           int(state.get("rate") or min(cap, 20)), key=_wz("rate"))
    return scheduled, quiet_hours, int(rate)


def end_field(state: dict[str, Any]) -> datetime | None:
    """An optional last day (Libreville time): after it, what has not left does not leave."""
    if not st.checkbox("Date de fin : après ce jour, les messages qui ne sont pas partis ne partent plus",
                       value=state.get("ends_at") is not None, key=_wz("has_end")):
        return None
    saved = state.get("ends_at")
    day = st.date_input("Dernier jour d'envoi (heure de Libreville)", format="DD/MM/YYYY", key=_wz("end_day"),
                        value=saved.astimezone(local_tz()).date() if saved else
                        (utcnow().astimezone(local_tz()) + timedelta(days=7)).date())
    if not isinstance(day, date):
        return None
    return datetime.combine(day, time(23, 59), tzinfo=local_tz()).astimezone(local_tz())


def budget_field(state: dict[str, Any], key: str, label: str = "Plafond de dépense (FCFA, 0 : aucun)") -> float | None:
    """A spending cap in FCFA; 0 means none."""
    value = st.number_input(label, min_value=0, max_value=10**11, step=1000, key=key,
                            value=int(state.get("budget") or 0),
                            help="L'envoi se met en pause quand les messages partis, comptés comme remis, atteignent "
                                 "ce montant.")
    return float(value) if value else None


def review_step(payload: campaigns.CampaignInput, draft_id: int | None) -> campaign_review.Review | None:
    """The final review: what the launch will do, computed by the same rules as the launch."""
    st.markdown("#### 5. Vérification et lancement")
    if not payload.include_segment_ids:
        st.info("Choisissez au moins un segment à l'étape 1 : la vérification s'affiche ici.")
        return None
    try:
        campaigns.parse_quiet_hours(payload.quiet_hours)
    except UserError:  # already said next to the fields of step 3
        st.info("Corrigez les heures calmes à l'étape 3 : la vérification s'affiche ensuite.")
        return None
    try:
        with db.session_scope() as session:
            review = campaign_review.review(session, payload, actor=_shell.me(session), draft_id=draft_id)
    except UserError as err:
        st.error(as_text(err))
        return None
    show_review(review)
    return review


def show_overlap(overlap: campaign_review.Overlap | None) -> None:
    """Who would get a second message, or how many the campaign leaves out for that reason."""
    if overlap is None or not overlap.people:
        return
    who = f"{_shell.nf(overlap.people)} personne{'s' if overlap.people > 1 else ''}"
    if overlap.left_out:
        st.info(f"{who} de cette audience, qui {'ont' if overlap.people > 1 else 'a'} reçu un message de campagne ces "
                f"{overlap.days} derniers jours, {'sont écartées' if overlap.people > 1 else 'est écartée'}.")
        return
    same = f" (dont {_shell.nf(overlap.same_template)} avec ce même modèle)" if overlap.same_template else ""
    st.warning(f"{who} de cette audience {'ont' if overlap.people > 1 else 'a'} déjà reçu un message de campagne ces "
               f"{overlap.days} derniers jours{same} : elle{'s' if overlap.people > 1 else ''} en recevrai"
               f"{'en' if overlap.people > 1 else ''}t un second. Pour les écarter : la case de l'étape 1 de "
               "l'assistant.")
    _shell.table(pd.DataFrame([{"Nom": name, "Téléphone": phone, "Dernière campagne": campaign,
                                "Envoyé le": format_dt(at)} for name, phone, campaign, at in overlap.sample]),
                 hide_index=True, width="stretch")


def show_review(review: campaign_review.Review) -> None:
    """The review, as the author sees it before launching and the approver before deciding."""
    c1, c2, c3 = st.columns(3)
    c1.metric("À envoyer", _shell.nf(review.recipients),
              help="Les destinataires joignables, moins ceux à qui il manque une variable du modèle.")
    c2.metric("Coût estimé", f"{_shell.nf(review.cost_fcfa)} FCFA",
              help=f"{fmt.decimal(review.price)} FCFA par message remis, si tous le sont.")
    c3.metric("Durée d'envoi estimée", duration(review.duration_seconds))
    c1, c2 = st.columns(2)
    c1.metric("Départ réel", format_dt(review.start))
    c2.metric("Dernier envoi vers", format_dt(review.finish))
    observed = (f" ; le fournisseur a accepté au mieux {fmt.decimal(review.observed_rate)} messages/s ces "
                f"{campaign_review.OBSERVED_DAYS} derniers jours, la durée en tient compte"
                if review.observed_rate and review.observed_rate < review.rate else "")
    st.caption(f"Cadence : {fmt.decimal(review.rate)} messages/s au plus{observed}. Les heures calmes interrompent "
               "l'envoi, qui reprend à leur fin.")
    rows = [{"Segment": f"Inclus : {name}", "Personnes": n} for name, n in review.included]
    rows += [{"Segment": f"Exclu : {name}", "Personnes": -n} for name, n in review.excluded]
    rows += [{"Segment": "Désinscrits, écartés d'office", "Personnes": -review.audience.opted_out}]
    if review.audience.not_on_whatsapp:
        rows += [{"Segment": "« Pas sur WhatsApp » (deux échecs 131026), écartés",
                  "Personnes": -review.audience.not_on_whatsapp}]
    if review.audience.marketing_refused:
        rows += [{"Segment": "Refusent le marketing (131050), écartés de ce modèle marketing",
                  "Personnes": -review.audience.marketing_refused}]
    rows += [{"Segment": f"Variable « {key} » sans valeur, écartés", "Personnes": -n} for key, n in review.missing]
    _shell.table(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Une personne présente dans plusieurs segments inclus ne reçoit qu'un message.")
    show_overlap(review.overlap)
    st.markdown("**Le message tel que le liront les premiers destinataires**")
    for sample in review.samples:
        st.markdown(f"{as_text(sample.name)} ({as_text(sample.phone)})")
        if sample.message is not None:
            st.info(as_text(sample.message))
        else:
            st.warning(f"Écarté : {as_text(labels.skip_reason(sample.skip_reason))}.")
    st.markdown("**Contrôles**")
    for guard in review.guards:
        mark = ":green[✔]" if guard.ok else (":red[✘]" if guard.blocking else ":orange[⚠]")
        st.markdown(f"{mark} {as_text(guard.text)}")


def test_step(choice: TemplateChoice) -> None:
    st.markdown("#### 4. Envoi de test")
    c1, c2 = st.columns([2, 1])
    test_to = c1.text_input("Numéro qui reçoit le test (valeurs du contact de l'aperçu)", key=_wz("test_to"))
    if c2.button("Envoyer le test", key=_wz("test")):
        sample_id = choice.sample.id if choice.sample else None
        done = _shell.act(lambda s: messaging.send_test(s, s.get(Template, choice.id), to=test_to,
                                                        contact=s.get(Contact, sample_id) if sample_id else None,
                                                        actor=_shell.me(s)))
        if done:
            _shell.show_send_result(done.value)


def launch_step(state: dict[str, Any], payload: campaigns.CampaignInput, *, needs_approval: bool) -> None:
    if needs_approval:
        st.info(approval.rule() + " Celle-ci lui sera soumise ; elle partira quand elle sera approuvée.")
    c1, c2 = st.columns(2)
    save = c1.button("Enregistrer le brouillon", key=_wz("save"))
    go = c2.button("Soumettre à validation" if needs_approval else "Lancer la campagne", type="primary",
                   key=_wz("launch"))
    if not (save or go):
        return

    def save_or_launch(session: Any) -> tuple[int, str, str | None]:
        """(campaign id, its status, why nothing was done: None when this click did it)."""
        try:
            if state.get("id"):
                campaign = campaigns.get(session, state["id"])
                if campaign.status != CampaignStatus.DRAFT:  # a click that arrived after the one that launched it
                    return campaign.id, campaign.status, "Ce brouillon a déjà quitté l'état de brouillon."
                campaign = campaigns.update_draft(session, campaign, payload, actor=_shell.me(session))
            else:
                campaign = campaigns.create(session, payload, actor=_shell.me(session))
        except campaigns.DuplicateCampaign as twin:  # a second click, a rerun, another tab: already done
            existing = campaigns.get(session, twin.campaign_id)
            return existing.id, existing.status, str(twin)
        if go and approval.required(session, campaign):  # decided here, on what is saved, not on the screen
            approval.submit(session, campaign, actor=_shell.me(session))
        elif go:
            campaigns.launch(session, campaign, actor=_shell.me(session))
        return campaign.id, campaign.status, None

    done = _shell.act(save_or_launch)
    if done is None:
        return
    campaign_id, status, already = done.value
    # The form empties itself, so that a second click has nothing left to launch (the core refuses
    # an identical campaign anyway: two tabs, a rerun). The confirmation is kept in the session
    # until a new campaign is started: a click arriving meanwhile interrupts the run that would show
    # it, not the message.
    _restart_wizard({})
    st.session_state["campaign_choice_next"] = campaign_id
    st.session_state[WIZARD_DONE] = ("warning", already) if already else ("success", (
        "Campagne lancée." if status == CampaignStatus.RUNNING else
        "Campagne programmée." if status == CampaignStatus.SCHEDULED else
        "Campagne soumise à validation : un superviseur ou un administrateur qui ne l'a pas préparée doit "
        "l'approuver, elle partira à ce moment-là." if go else
        "Brouillon enregistré.") + f" Elle porte le n° {campaign_id} dans l'onglet « Campagnes ».")
    st.rerun()


# --- screen ------------------------------------------------------------------------------------

rows = campaign_rows()
tabs = st.tabs(["Campagnes", "Nouvelle campagne"] if can_edit else ["Campagnes"])
with tabs[0]:
    if not rows:
        st.info("Aucune campagne pour l'instant." + (" Créez-en une dans l'onglet « Nouvelle campagne »."
                                                      if can_edit else ""))
    else:
        _shell.table(pd.DataFrame(rows).set_index("N°"), width="stretch",
                     column_config={label: st.column_config.NumberColumn(label, help=figures.HELP[key],
                                                                         format="localized")
                                    for key, label in figures.LABELS.items() if key != "replied"})
        st.caption("Destinataires : pour une campagne pas encore partie, les personnes qu'elle toucherait maintenant.")
        titles = {r["N°"]: f"{r['Campagne']} — {r['Statut']}" for r in rows}
        if st.session_state.get("campaign_choice_next") in titles:
            st.session_state["campaign_choice"] = st.session_state.pop("campaign_choice_next")
        if flash := st.session_state.pop("campaign_flash", None):
            st.success(flash)
        chosen = st.selectbox("Ouvrir la campagne", list(titles), format_func=titles.get, key="campaign_choice")
        detail(chosen)
if can_edit:
    with tabs[1]:
        wizard()
