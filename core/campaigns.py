"""Campaigns: drafts, the status machine, scheduling, quiet hours, and the launch that freezes the
audience into the per-recipient ledger in one set-based statement."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from core import audit, db, figures, fmt, labels, segments, stats, templates
from core.config import get_settings
from core.errors import NotFound, UserError
from core.models import (
    Campaign,
    CampaignStatus,
    Contact,
    Recipient,
    RecipientStatus,
    Segment,
    SegmentKind,
    SegmentMember,
    Template,
    TemplateCategory,
    TemplateStatus,
    User,
    UTCDateTime,
    table,
)
from core.respondio import UNVERIFIED
from core.text import fold, one_line
from core.timeutil import local_tz, utcnow

S = CampaignStatus
TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.SCHEDULED, S.RUNNING, S.CANCELLED},
    S.SCHEDULED: {S.DRAFT, S.RUNNING, S.CANCELLED},
    S.RUNNING: {S.PAUSED, S.COMPLETED, S.CANCELLED, S.FAILED},
    S.PAUSED: {S.RUNNING, S.CANCELLED, S.FAILED},
    S.COMPLETED: set(),
    S.CANCELLED: set(),
    S.FAILED: set(),
}
# ASCII digits only: `\d` would take "١٩:00", which Python's time parser refuses.
QUIET_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$")
FINAL = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ, RecipientStatus.FAILED,
         RecipientStatus.SKIPPED)


def get(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"Campagne n° {campaign_id} introuvable.")
    return campaign


def list_all(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())).all())


def names(session: Session, *, limit: int | None = None) -> dict[int, str]:
    """Campaign names by id, the newest first."""
    stmt = select(Campaign.id, Campaign.name).order_by(Campaign.id.desc())
    return dict(session.execute(stmt.limit(limit) if limit else stmt).all())


@dataclass(frozen=True)
class RecipientRow:
    recipient: Recipient
    first_name: str | None
    last_name: str | None


def recipients(session: Session, campaign_id: int, *, status: str | None = None,
               limit: int = 200) -> list[RecipientRow]:
    """A campaign's first ledger rows (in the order they were made), with the person's name."""
    stmt = (select(Recipient, Contact.first_name, Contact.last_name).join(Contact, Contact.id == Recipient.contact_id)
            .where(Recipient.campaign_id == campaign_id).order_by(Recipient.id).limit(limit))
    if status:
        stmt = stmt.where(Recipient.status == status)
    return [RecipientRow(r, first, last) for r, first, last in session.execute(stmt).all()]


def transition(session: Session, campaign: Campaign, to: str, *, actor: User | None = None,
               reason: str | None = None, actor_email: str | None = None) -> Campaign:
    """The only way a campaign changes status: allowed moves only, each one audited."""
    if to not in TRANSITIONS[campaign.status]:
        raise UserError(f"Une campagne « {labels.CAMPAIGN_STATUS[S(campaign.status)].lower()} » ne peut pas passer à "
                        f"« {labels.CAMPAIGN_STATUS[S(to)].lower()} ».")
    previous = campaign.status
    campaign.status = to
    campaign.status_reason = reason
    now = utcnow()
    if to == S.RUNNING and campaign.started_at is None:
        campaign.started_at = now
    if to in (S.COMPLETED, S.CANCELLED, S.FAILED):
        campaign.completed_at = now
    if to == S.DRAFT:  # a scheduled campaign taken back: approved as it was, not as it will be
        _reset_approval(session, campaign, actor)
    audit.record(session, f"campaign_{to}", actor=actor, actor_email=actor_email or (None if actor else "system"),
                 target_type="campaign", target_id=campaign.id,
                 details={"from": previous, "to": to, **({"reason": reason} if reason else {})})
    return campaign


# --- quiet hours -------------------------------------------------------------------------------


def parse_quiet_hours(value: str | None) -> tuple[str, str] | None:
    """`20:00-08:00` -> ("20:00", "08:00"); `none` or empty -> no quiet hours."""
    if value is None or value.strip().lower() in ("", "none", "aucune"):
        return None
    match = QUIET_RE.match(value.strip())
    if not match:
        raise UserError(f"Heures calmes attendues au format HH:MM-HH:MM, reçu « {value} ».")
    start, end = value.strip().split("-")
    if start == end:
        raise UserError("Les heures calmes doivent avoir une durée.")
    return start, end


def quiet_time_error(value: str) -> str | None:
    """The French message for one bound of the quiet hours that is not a time of day, or None."""
    if re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value.strip()):
        return None
    return (f"« {value.strip()} » n'est pas une heure : écrivez-la au format HH:MM, de 00:00 à 23:59 "
            "(par exemple 20:00).")


def _quiet(start: str, end: str, local: time) -> bool:
    begins, ends = time.fromisoformat(start), time.fromisoformat(end)
    return (begins <= local or local < ends) if begins > ends else (begins <= local < ends)


def first_send_at(quiet: tuple[str, str] | None, at: datetime) -> datetime:
    """When the first message of a campaign starting at `at` may leave: `at`, or the end of the
    quiet hours (Libreville time) when `at` falls inside them."""
    local = at.astimezone(local_tz())
    if quiet is None or not _quiet(quiet[0], quiet[1], local.time()):
        return at
    end = time.fromisoformat(quiet[1])
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return candidate + timedelta(days=1) if candidate <= local else candidate


def in_quiet_hours(campaign: Campaign, now: datetime | None = None) -> bool:
    if not campaign.quiet_hours_start or not campaign.quiet_hours_end:
        return False
    return _quiet(campaign.quiet_hours_start, campaign.quiet_hours_end,
                  (now or utcnow()).astimezone(local_tz()).time())


def quiet_hours_end(campaign: Campaign, now: datetime | None = None) -> datetime | None:
    """When sending may resume, if `now` is inside the quiet hours."""
    now = now or utcnow()
    if not in_quiet_hours(campaign, now):
        return None
    return first_send_at((campaign.quiet_hours_start or "20:00", campaign.quiet_hours_end or "08:00"), now)


# --- drafts ------------------------------------------------------------------------------------


@dataclass
class CampaignInput:
    name: str
    template_id: int
    include_segment_ids: list[int]
    exclude_segment_ids: list[int] | None = None
    rate_limit: int | None = None
    scheduled_at: datetime | None = None
    quiet_hours: str | None = "20:00-08:00"
    variable_mapping: dict[str, Any] | None = None  # None: the template's default
    budget_fcfa: float | None = None  # spending cap; None: none
    exclude_recent_days: int | None = None  # leave out people a campaign message reached within this many days
    ends_at: datetime | None = None  # no message leaves after this; None: no end


DUPLICATE_WINDOW = timedelta(minutes=10)  # an identical campaign by the same person within this: a second click
PAST_TOLERANCE = timedelta(minutes=1)  # a start "now" typed as the current minute is not in the past


def past_start_error(scheduled_at: datetime | None, now: datetime | None = None) -> str | None:
    """The French message for a start date already gone, or None."""
    if scheduled_at is None or scheduled_at >= (now or utcnow()) - PAST_TOLERANCE:
        return None
    return (f"La date de départ ({scheduled_at.astimezone(local_tz()):%d/%m/%Y à %H:%M}) est passée : choisissez "
            "une date et une heure à venir, ou un départ « Dès le lancement ».")


class DuplicateCampaign(UserError):
    """The campaign a person is creating (or a draft they are editing into) is one they have just
    created: `campaign_id` is that one."""

    def __init__(self, message: str, campaign_id: int) -> None:
        super().__init__(message)
        self.campaign_id = campaign_id


NAME_MAX = 200  # the column's length


def _validate(session: Session, data: CampaignInput) -> tuple[Template, tuple[str, str] | None, dict[str, Any]]:
    if not one_line(data.name):
        raise UserError("Le nom de la campagne est obligatoire.")
    if len(one_line(data.name)) > NAME_MAX:
        raise UserError(f"Le nom de la campagne dépasse {NAME_MAX} caractères ({len(one_line(data.name))}) : "
                        "raccourcissez-le.")
    template = session.get(Template, data.template_id)
    if template is None:
        raise UserError("Modèle introuvable.")
    if template.status != TemplateStatus.APPROVED:
        raise UserError(f"Le modèle « {template.name} » n'est pas approuvé par WhatsApp : il ne peut pas être utilisé.")
    if not data.include_segment_ids:
        raise UserError("Choisissez au moins un segment à inclure.")
    for segment_id in [*data.include_segment_ids, *(data.exclude_segment_ids or [])]:
        if session.get(Segment, segment_id) is None:
            raise UserError(f"Segment n° {segment_id} introuvable.")
    if data.rate_limit is not None:
        if data.rate_limit < 1:
            raise UserError("La cadence doit être d'au moins 1 message par seconde.")
        if data.rate_limit > get_settings().max_send_rate:
            raise UserError(f"La cadence ne peut pas dépasser {fmt.decimal(get_settings().max_send_rate)} messages "
                            "par seconde (limite du numéro WhatsApp).")
    if data.exclude_recent_days is not None and not 1 <= data.exclude_recent_days <= 365:
        raise UserError("La période des personnes déjà contactées va de 1 à 365 jours.")
    if data.scheduled_at is not None and data.scheduled_at.tzinfo is None:
        raise UserError("La date de programmation doit préciser son fuseau horaire.")
    if error := past_start_error(data.scheduled_at):
        raise UserError(error)
    if data.ends_at is not None:
        if data.ends_at.tzinfo is None:
            raise UserError("La date de fin doit préciser son fuseau horaire.")
        if data.ends_at <= max(data.scheduled_at or utcnow(), utcnow()):
            raise UserError("La date de fin doit venir après le départ de la campagne.")
    quiet = parse_quiet_hours(data.quiet_hours)
    _check_budget(data.budget_fcfa, template)
    mapping = data.variable_mapping if data.variable_mapping is not None else (template.variable_mapping or {})
    problems = templates.validate_mapping(templates.as_dict(template), mapping)
    if problems:
        raise UserError("Correspondance des variables incomplète : " + " ".join(problems))
    return template, quiet, mapping


def as_input(campaign: Campaign) -> CampaignInput:
    """What the campaign was made from, for its review."""
    quiet = f"{campaign.quiet_hours_start}-{campaign.quiet_hours_end}" if campaign.quiet_hours_start else None
    return CampaignInput(name=campaign.name, template_id=campaign.template_id or 0,
                         include_segment_ids=list(campaign.include_segment_ids),
                         exclude_segment_ids=list(campaign.exclude_segment_ids or []), rate_limit=campaign.rate_limit,
                         scheduled_at=campaign.scheduled_at, quiet_hours=quiet,
                         variable_mapping=campaign.variable_mapping, budget_fcfa=campaign.budget_fcfa,
                         exclude_recent_days=campaign.exclude_recent_days, ends_at=campaign.ends_at)


def recent_duplicate(session: Session, data: CampaignInput, actor: User, *, now: datetime | None = None,
                     other_than: int | None = None) -> Campaign | None:
    """A campaign `actor` created within DUPLICATE_WINDOW with the same name (whatever the case,
    accents and invisible characters), template, audience and start, not cancelled: what a double
    click, a rerun or a second tab would create again. `other_than`: the draft being edited."""
    since = (now or utcnow()) - DUPLICATE_WINDOW
    query = select(Campaign).where(
        Campaign.created_by == actor.id, Campaign.created_at >= since, Campaign.status != S.CANCELLED,
        Campaign.template_id == data.template_id, Campaign.parent_campaign_id.is_(None))
    if other_than is not None:
        query = query.where(Campaign.id != other_than)
    name = fold(one_line(data.name))
    for campaign in session.scalars(query.order_by(Campaign.id.desc())):
        if fold(one_line(campaign.name)) != name:
            continue
        if campaign.scheduled_at is None or data.scheduled_at is None:
            same_start = campaign.scheduled_at is None and data.scheduled_at is None
        else:
            same_start = abs((campaign.scheduled_at - data.scheduled_at).total_seconds()) < 1
        if (sorted(campaign.include_segment_ids) == sorted(data.include_segment_ids)
                and sorted(campaign.exclude_segment_ids or []) == sorted(data.exclude_segment_ids or [])
                and same_start):
            return campaign
    return None


def _refuse_duplicate(session: Session, data: CampaignInput, actor: User, *, other_than: int | None) -> None:
    """Serialises creations and edits (two tabs, a double click), then refuses a recent twin."""
    db.serialize(session, "campaign-create")
    if (twin := recent_duplicate(session, data, actor, other_than=other_than)) is not None:
        raise DuplicateCampaign(
            f"Cette campagne vient d'être créée (n° {twin.id}, « {twin.name} », "
            f"{labels.CAMPAIGN_STATUS.get(twin.status, twin.status).lower()}) : elle n'est pas "
            f"{'créée' if other_than is None else 'enregistrée'} une seconde fois. Retrouvez-la dans l'onglet "
            "« Campagnes ».", twin.id)


def create(session: Session, data: CampaignInput, *, actor: User | None = None) -> Campaign:
    """A new draft. Created by a person (`actor`), it is refused when the same person has just
    created the same campaign (`recent_duplicate`): creations are serialised, so two tabs or a
    double click racing each other make one campaign."""
    template, quiet, mapping = _validate(session, data)
    if actor is not None:
        _refuse_duplicate(session, data, actor, other_than=None)
    campaign = Campaign(name=one_line(data.name), template_id=template.id, variable_mapping=mapping,
                        include_segment_ids=list(data.include_segment_ids),
                        exclude_segment_ids=list(data.exclude_segment_ids or []), rate_limit=data.rate_limit,
                        scheduled_at=data.scheduled_at, quiet_hours_start=quiet[0] if quiet else None,
                        quiet_hours_end=quiet[1] if quiet else None, status=S.DRAFT, budget_fcfa=data.budget_fcfa,
                        exclude_recent_days=data.exclude_recent_days, ends_at=data.ends_at,
                        created_by=actor.id if actor else None)
    session.add(campaign)
    session.flush()
    audit.record(session, "campaign_created", actor=actor, actor_email=None if actor else "cli",
                 target_type="campaign", target_id=campaign.id, details={"name": campaign.name})
    return campaign


def update_draft(session: Session, campaign: Campaign, data: CampaignInput, *, actor: User | None = None) -> Campaign:
    if campaign.status != S.DRAFT:
        raise UserError("Seul un brouillon peut être modifié.")
    template, quiet, mapping = _validate(session, data)
    if actor is not None:
        _refuse_duplicate(session, data, actor, other_than=campaign.id)
    campaign.name = one_line(data.name)
    campaign.template_id = template.id
    campaign.variable_mapping = mapping
    campaign.include_segment_ids = list(data.include_segment_ids)
    campaign.exclude_segment_ids = list(data.exclude_segment_ids or [])
    campaign.rate_limit = data.rate_limit
    campaign.scheduled_at = data.scheduled_at
    campaign.quiet_hours_start, campaign.quiet_hours_end = quiet if quiet else (None, None)
    campaign.budget_fcfa = data.budget_fcfa
    campaign.exclude_recent_days = data.exclude_recent_days
    campaign.ends_at = data.ends_at
    _reset_approval(session, campaign, actor)
    audit.record(session, "campaign_updated", actor=actor, target_type="campaign", target_id=campaign.id)
    return campaign


@dataclass(frozen=True)
class Estimate:
    audience: segments.AudienceCount
    cost_fcfa: float
    duration_seconds: float
    rate: float


def contacted_cutoff(days: int | None, now: datetime | None = None) -> datetime | None:
    """People a campaign message reached after this are left out (`exclude_recent_days`)."""
    return None if days is None else (now or utcnow()) - timedelta(days=days)


def is_marketing(template: Template | None) -> bool:
    """A marketing template: the people who refuse marketing (131050) are left out of it."""
    return template is not None and template.category == TemplateCategory.MARKETING


def price_per_message(category: str) -> float:
    s = get_settings()
    return {"MARKETING": s.price_marketing_fcfa, "UTILITY": s.price_utility_fcfa,
            "AUTHENTICATION": s.price_authentication_fcfa}.get(category, s.price_marketing_fcfa)


def effective_rate(campaign: Campaign) -> float:
    cap = get_settings().max_send_rate
    return float(min(campaign.rate_limit or cap, cap))


def estimate(session: Session, campaign: Campaign) -> Estimate:
    """Audience, the cost if every reachable person receives it, and the sending time at the cap."""
    template = session.get(Template, campaign.template_id)
    audience = segments.count_audience(session, campaign.include_segment_ids, campaign.exclude_segment_ids,
                                       marketing=is_marketing(template),
                                       not_contacted_since=contacted_cutoff(campaign.exclude_recent_days))
    rate = effective_rate(campaign)
    return Estimate(audience, audience.reachable * price_per_message(template.category if template else ""),
                    audience.reachable / rate, rate)


# --- launch ------------------------------------------------------------------------------------


def approval_threshold() -> int | None:
    """Recipients above which a campaign needs approval (CAMPAIGN_APPROVAL): None (never), 0 (always) or N."""
    value = get_settings().campaign_approval.strip()
    return None if value == "never" else 0 if value == "always" else int(value)


def approval_required_for(recipients: int) -> bool:
    limit = approval_threshold()
    return limit is not None and (limit == 0 or recipients > limit)


def needs_approval(session: Session, campaign: Campaign) -> bool:
    """Whether CAMPAIGN_APPROVAL asks a second person for this campaign (its reachable audience now)."""
    return approval_threshold() is not None and approval_required_for(estimate(session, campaign).audience.reachable)


def _reset_approval(session: Session, campaign: Campaign, actor: User | None) -> None:
    """A submitted or approved draft that is edited must be submitted again (core/approval.py)."""
    if campaign.approval_status in ("submitted", "approved", "rejected"):
        audit.record(session, "campaign_approval_reset", actor=actor, target_type="campaign", target_id=campaign.id,
                     details={"was": campaign.approval_status})
        campaign.approval_status = campaign.approved_recipients = None
        campaign.submitted_by = campaign.submitted_at = None


def launch(session: Session, campaign: Campaign, *, actor: User | None = None, now: datetime | None = None) -> Campaign:
    """Schedule the campaign, or start it now if its time has come. The campaign is read again under a
    lock: two tabs (or two approvers) launching the same draft start it once."""
    now = now or utcnow()
    db.lock_for_write(session, campaign)
    if campaign.status != S.DRAFT:
        raise UserError("Seul un brouillon peut être lancé.")
    if campaign.approval_status != "approved" and needs_approval(session, campaign):
        raise UserError("Cette campagne doit être validée par un superviseur ou un administrateur qui ne l'a pas "
                        "préparée : soumettez-la à validation." if campaign.approval_status != "submitted" else
                        "Cette campagne attend la validation d'un superviseur ou d'un administrateur : elle partira "
                        "quand elle sera approuvée.")
    if error := past_start_error(campaign.scheduled_at, now):
        raise UserError(error + " Modifiez le brouillon avant de le lancer.")
    template = session.get(Template, campaign.template_id)
    if template is None:
        raise UserError("Le modèle de cette campagne a été supprimé : elle ne peut pas partir.")
    if problem := templates.status_problem(template.status):
        raise UserError(f"Le modèle de cette campagne {problem} : elle ne peut pas partir.")
    campaign.launched_at = now
    if campaign.scheduled_at is not None and campaign.scheduled_at > now:
        return transition(session, campaign, S.SCHEDULED, actor=actor)
    transition(session, campaign, S.RUNNING, actor=actor)
    materialize(session, campaign, now=now)
    return campaign


def start_due(session: Session, *, now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come. The conditional update makes the start
    happen once, however many schedulers see the campaign at the same moment."""
    now = now or utcnow()
    started = []
    due = session.scalars(select(Campaign.id).where(Campaign.status == S.SCHEDULED,
                                                    Campaign.scheduled_at <= now)).all()
    for campaign_id in due:
        won = db.changed(session, update(Campaign).where(Campaign.id == campaign_id, Campaign.status == S.SCHEDULED)
                         .values(status=S.RUNNING, started_at=now))
        if won != 1:
            continue
        campaign = get(session, campaign_id)
        if reason := _outgrew_approval(session, campaign):
            campaign.status, campaign.started_at, campaign.launched_at = S.DRAFT, None, None
            campaign.status_reason = reason
            _reset_approval(session, campaign, None)
            audit.record(session, "campaign_sent_back", actor_email="scheduler", target_type="campaign",
                         target_id=campaign_id, details={"reason": reason})
            continue
        audit.record(session, "campaign_running", actor_email="scheduler", target_type="campaign",
                     target_id=campaign_id, details={"from": S.SCHEDULED, "to": S.RUNNING})
        materialize(session, campaign, now=now)
        started.append(campaign_id)
    return started


def _outgrew_approval(session: Session, campaign: Campaign) -> str | None:
    """At the start of a scheduled campaign, the audience as it is now (segments grow: imports,
    dynamic rules) against the approval: more than was approved, or now above the threshold without
    approval, and it goes back to draft with this reason (French)."""
    if approval_threshold() is None:
        return None
    reachable = estimate(session, campaign).audience.reachable
    if campaign.approval_status == "approved":
        if campaign.approved_recipients is not None and reachable > campaign.approved_recipients:
            return (f"Revenue en brouillon au départ : l'audience compte maintenant {reachable} personnes, plus que "
                    f"les {campaign.approved_recipients} approuvées. Soumettez-la à nouveau.")
        return None
    if approval_required_for(reachable):
        return (f"Revenue en brouillon au départ : l'audience compte maintenant {reachable} personnes, au-delà du "
                "seuil de validation. Soumettez-la à validation.")
    return None


def variable_sql(spec: dict[str, Any]) -> Any:
    """One template variable for every contact at once, as SQL; NULL when empty and no fallback."""
    source = spec.get("source")
    if source == "field":
        value = func.nullif(func.trim(getattr(Contact, spec["field"])), "")
    elif source == "attribute":
        value = func.nullif(func.trim(Contact.attributes[spec["attribute"]].as_string()), "")
    else:
        value = func.nullif(func.trim(literal(str(spec.get("text") or ""))), "")
    fallback = str(spec.get("fallback") or "").strip()
    return func.coalesce(value, literal(fallback)) if fallback else value


def materialize(session: Session, campaign: Campaign, *, now: datetime | None = None) -> int:
    """Freeze the audience: one ledger row per contact, rendered parameters, or skipped with a reason.
    One INSERT ... SELECT; the (campaign, contact) unique key makes a second run impossible."""
    now = now or utcnow()
    template = session.get(Template, campaign.template_id)
    assert template is not None
    data = templates.as_dict(template)
    mapping = campaign.variable_mapping or {}
    keys = templates.variable_keys(data)
    values = {key: variable_sql(mapping[key]) for key in keys}
    pg = session.get_bind().dialect.name == "postgresql"
    obj, arr = (func.jsonb_build_object, func.jsonb_build_array) if pg else (func.json_object, func.json_array)
    parts: list[Any] = ["body", arr(*[values[k] for k in keys if k.isdigit()])]
    if "header" in values:
        parts += ["header", arr(values["header"])]
    buttons = [(k.split("_")[1], values[k]) for k in keys if k.startswith("button_")]
    if buttons:
        parts += ["buttons", obj(*[x for pair in buttons for x in pair])]
    missing = [(values[k].is_(None), f"missing_variable:{k}") for k in keys]
    status = case((or_(*[m[0] for m in missing]), RecipientStatus.SKIPPED.value),
                  else_=RecipientStatus.PENDING.value) if missing else literal(RecipientStatus.PENDING.value)
    skip_reason = case(*missing, else_=None) if missing else literal(None)
    stamp = literal(now, UTCDateTime())
    source = select(literal(campaign.id), Contact.id, Contact.phone, obj(*parts), status, skip_reason, stamp, stamp) \
        .where(segments.audience_condition(session, campaign.include_segment_ids, campaign.exclude_segment_ids,
                                           marketing=is_marketing(template),
                                           not_contacted_since=contacted_cutoff(campaign.exclude_recent_days, now)))
    inserted = db.changed(session, insert(table(Recipient)).from_select(
        ["campaign_id", "contact_id", "phone", "parameters", "status", "skip_reason", "created_at", "updated_at"],
        source))
    # Where the driver does not report the row count of INSERT ... SELECT (psycopg says -1 for
    # some plans), count what is there.
    if not inserted:
        inserted = session.scalar(select(func.count()).select_from(Recipient)
                                  .where(Recipient.campaign_id == campaign.id)) or 0
    campaign.total_recipients = inserted
    stats.mark(session, [campaign.id])  # inserted rows fire no update trigger
    session.flush()
    return inserted


# --- control -----------------------------------------------------------------------------------


def _check_budget(budget_fcfa: float | None, template: Template | None) -> None:
    if budget_fcfa is None:
        return
    if not 0 < budget_fcfa < 10**12:  # NaN fails both
        raise UserError("Le plafond de dépense doit être un montant positif en FCFA (ou aucun plafond).")
    price = price_per_message(template.category if template else "")
    if budget_fcfa < price:
        raise UserError(f"Un plafond de {fmt.decimal(budget_fcfa)} FCFA ne couvre pas un seul message "
                        f"({fmt.decimal(price)} FCFA) : relevez-le, ou n'en mettez pas.")


def set_budget(session: Session, campaign: Campaign, budget_fcfa: float | None, *,
               actor: User | None = None) -> Campaign:
    """Raise, lower or remove the spending cap of a campaign that has not finished; a campaign paused at
    its cap is then resumed by a person (« Reprendre »)."""
    if campaign.status in (S.COMPLETED, S.CANCELLED, S.FAILED):
        raise UserError("Cette campagne est terminée : son plafond ne peut plus changer.")
    _check_budget(budget_fcfa, session.get(Template, campaign.template_id))
    previous, campaign.budget_fcfa = campaign.budget_fcfa, budget_fcfa
    audit.record(session, "campaign_budget_changed", actor=actor, target_type="campaign", target_id=campaign.id,
                 details={"from": previous, "to": budget_fcfa})
    return campaign


def pause(session: Session, campaign: Campaign, *, actor: User | None = None, reason: str | None = None) -> Campaign:
    return transition(session, campaign, S.PAUSED, actor=actor, reason=reason or "Mise en pause manuelle")


def resume(session: Session, campaign: Campaign, *, actor: User | None = None) -> Campaign:
    if campaign.status != S.PAUSED:
        raise UserError("Seule une campagne en pause peut reprendre.")
    return transition(session, campaign, S.RUNNING, actor=actor)


def cancel(session: Session, campaign: Campaign, *, actor: User | None = None, reason: str | None = None) -> Campaign:
    """Nothing new starts; rows already claimed finish; pending rows stay unsent."""
    return transition(session, campaign, S.CANCELLED, actor=actor, reason=reason or "Annulée")


def complete_if_done(session: Session, campaign_id: int) -> bool:
    campaign = get(session, campaign_id)
    if campaign.status != S.RUNNING:
        return False
    open_row = session.scalar(select(Recipient.id).where(  # one row is enough: not a count
        Recipient.campaign_id == campaign_id,
        Recipient.status.in_([RecipientStatus.PENDING, RecipientStatus.SENDING])).limit(1))
    if open_row is not None:
        return False
    transition(session, campaign, S.COMPLETED, actor_email="system")
    return True


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    counts: dict[str, int]
    rate_per_second: float  # over the last minute
    eta_seconds: float | None
    verifying: int = 0  # `sending` rows whose outcome is being looked up at the provider
    unverified: int = 0  # failed rows whose send could be neither confirmed nor denied
    replied: int = 0  # messages answered (core/figures.py: Répondus)

    @property
    def funnel(self) -> figures.Funnel:
        return figures.Funnel.of(self.counts, self.replied)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "total": self.total,
                **{k: self.counts.get(k, 0) for k in labels.RECIPIENT_STATUS},
                "verifying": self.verifying, "unverified": self.unverified}


def progress(session: Session, campaign_id: int, *, now: datetime | None = None) -> Progress:
    now = now or utcnow()
    campaign = get(session, campaign_id)
    counts = dict(session.execute(select(Recipient.status, func.count()).where(Recipient.campaign_id == campaign_id)
                                  .group_by(Recipient.status)).all())
    verifying = session.scalar(select(func.count()).select_from(Recipient).where(
        Recipient.campaign_id == campaign_id, Recipient.status == RecipientStatus.SENDING,
        (Recipient.lease_owner.is_(None)) | (Recipient.lease_expires_at < now))) or 0 \
        if counts.get("sending") else 0
    unverified = session.scalar(select(func.count()).select_from(Recipient).where(
        Recipient.campaign_id == campaign_id, Recipient.status == RecipientStatus.FAILED,
        Recipient.error_code == UNVERIFIED)) or 0 if counts.get("failed") else 0
    recent = session.scalar(select(func.count()).select_from(Recipient).where(
        Recipient.campaign_id == campaign_id, Recipient.sent_at >= now - timedelta(seconds=60))) or 0
    replied = session.scalar(select(func.count()).select_from(Recipient).where(
        Recipient.campaign_id == campaign_id, Recipient.status.in_(figures.SENT),
        Recipient.replied_at.is_not(None))) or 0
    rate = recent / 60.0
    remaining = counts.get("pending", 0) + counts.get("sending", 0)
    eta = remaining / rate if rate > 0 and campaign.status == S.RUNNING else None
    return Progress(campaign.status, sum(counts.values()), counts, rate, eta, verifying, unverified, replied)


def failures_by_code(session: Session, campaign_id: int) -> list[tuple[str, int]]:
    return [(code or "", n) for code, n in session.execute(
        select(Recipient.error_code, func.count()).where(Recipient.campaign_id == campaign_id,
                                                         Recipient.status == RecipientStatus.FAILED)
        .group_by(Recipient.error_code).order_by(func.count().desc())).all()]


@dataclass(frozen=True)
class RetargetCount:
    """Who a retargeting would take (`settled`) and who it leaves out for now (`recent`: sent less
    than the settling time ago, their delivery or read status may still arrive)."""
    settled: int
    recent: int
    cutoff: datetime  # sent before this: settled


def _retarget_conditions(cutoff: datetime) -> dict[str, tuple[Any, Any]]:
    """For each retargeting, (who it concerns, who among them has settled). A failure is final; a
    message still "sent" or not yet read is only counted once it has had time to be delivered or read."""
    old_enough = and_(Recipient.sent_at.is_not(None), Recipient.sent_at <= cutoff)
    failed = Recipient.status == RecipientStatus.FAILED
    return {
        "not_delivered": (Recipient.status.in_([RecipientStatus.SENT, RecipientStatus.FAILED]),
                          or_(failed, old_enough)),
        "not_read": (and_(Recipient.status.in_([RecipientStatus.SENT, RecipientStatus.DELIVERED]),
                          Recipient.read_at.is_(None)), old_enough),
        "failed": (failed, literal(True)),
        "unverified": (and_(failed, Recipient.error_code == UNVERIFIED), literal(True)),
    }


def retarget_cutoff(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(hours=get_settings().retarget_settle_hours)


def retarget_counts(session: Session, campaign_id: int, *, now: datetime | None = None) -> dict[str, RetargetCount]:
    """What each retargeting of the campaign would take now, and what it would leave out."""
    cutoff = retarget_cutoff(now)
    counts = {}
    for which, (concerned, settled) in _retarget_conditions(cutoff).items():
        row = session.execute(select(func.count(), func.coalesce(func.sum(case((settled, 1), else_=0)), 0))
                              .where(Recipient.campaign_id == campaign_id, concerned)).one()
        counts[which] = RetargetCount(settled=int(row[1]), recent=int(row[0]) - int(row[1]), cutoff=cutoff)
    return counts


def retarget(session: Session, campaign: Campaign, which: str, *, actor: User | None = None,
             now: datetime | None = None) -> Campaign:
    """A new draft for the recipients who did not get, did not read, or failed to receive a campaign,
    among those whose status has settled (RETARGET_SETTLE_HOURS): a message sent a minute ago is not
    "not delivered" yet. How many were left out for that reason is in the audit log."""
    if which not in labels.RETARGET:
        raise UserError("Relance inconnue.")
    cutoff = retarget_cutoff(now)
    concerned, settled = _retarget_conditions(cutoff)[which]
    ids = session.scalars(select(Recipient.contact_id).where(Recipient.campaign_id == campaign.id, concerned,
                                                             settled)).all()
    recent = session.scalar(select(func.count()).where(Recipient.campaign_id == campaign.id, concerned,
                                                       ~settled)) or 0
    if not ids:
        if recent:
            hours = f"{fmt.decimal(get_settings().retarget_settle_hours)}"
            raise UserError(f"Aucun destinataire « {labels.RETARGET[which]} » depuis plus de {hours} h : les {recent} "
                            f"envois plus récents peuvent encore changer de statut. Réessayez après le "
                            f"{_settles_at(session, campaign.id, concerned, cutoff):%d/%m/%Y à %H:%M}.")
        raise UserError(f"Aucun destinataire « {labels.RETARGET[which]} » dans cette campagne.")
    base = f"{campaign.name} — relance {labels.RETARGET[which]}"[:110]
    name, n = base, 2
    while session.scalar(select(Segment.id).where(Segment.name == name)):
        name, n = f"{base} ({n})", n + 1
    segment = Segment(name=name, kind=SegmentKind.STATIC, description=f"Relance de la campagne n° {campaign.id}",
                      created_by=actor.id if actor else None)
    session.add(segment)
    session.flush()
    session.execute(insert(SegmentMember), [{"segment_id": segment.id, "contact_id": cid} for cid in ids])
    draft = Campaign(name=name, template_id=campaign.template_id, variable_mapping=campaign.variable_mapping,
                     include_segment_ids=[segment.id], exclude_segment_ids=[], rate_limit=campaign.rate_limit,
                     quiet_hours_start=campaign.quiet_hours_start, quiet_hours_end=campaign.quiet_hours_end,
                     parent_campaign_id=campaign.id, retarget=which, status=S.DRAFT,
                     created_by=actor.id if actor else None)
    session.add(draft)
    session.flush()
    audit.record(session, "campaign_created", actor=actor, target_type="campaign", target_id=draft.id,
                 details={"name": draft.name, "retarget_of": campaign.id, "recipients": len(ids),
                          "left_out_recent": recent})
    return draft


def _settles_at(session: Session, campaign_id: int, concerned: Any, cutoff: datetime) -> datetime:
    """When the first message left out of a retargeting will have settled (Libreville time)."""
    first = session.scalar(select(func.min(Recipient.sent_at)).where(
        Recipient.campaign_id == campaign_id, concerned, Recipient.sent_at > cutoff))
    settle = timedelta(hours=get_settings().retarget_settle_hours)
    return ((first or utcnow()) + settle).astimezone(local_tz())
