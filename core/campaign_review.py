"""The final review of a campaign before it leaves: who receives it and who does not (and why), the
message as its first recipients will read it, when it really starts and ends, at what rate, what it
costs, and the guards that hold or do not. The wizard shows it above « Lancer la campagne »; it is
computed from the same rules as the launch (segments.audience_condition, the variables' SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import campaigns, fmt, limits, segments, templates
from core.config import get_settings
from core.errors import UserError
from core.models import AuditLog, Campaign, CampaignStatus, Contact, Recipient, RecipientStatus, Template, User
from core.timeutil import format_dt, local_tz, utcnow

SAMPLES = 3  # recipients whose message is shown as they will read it
OVERLAP_SAMPLE = 10  # people shown who would get a second message
TEST_RECENT = timedelta(hours=24)  # a test send of the template within this counts for the review
OBSERVED_DAYS = 7  # the provider's real rate is the best minute of the sends of this period
OBSERVED_MIN_PER_MINUTE = 60  # fewer sends in the best minute: not enough to tell a rate


@dataclass(frozen=True)
class Sample:
    name: str
    phone: str
    message: str | None  # None: the contact is skipped (`skip_reason`)
    skip_reason: str | None = None


@dataclass(frozen=True)
class Guard:
    ok: bool
    text: str  # French
    blocking: bool = False  # the launch is refused while it does not hold


@dataclass(frozen=True)
class Overlap:
    days: int
    people: int  # in the audience, reached by a campaign message in the last `days` days
    same_template: int  # of them, by this very template
    sample: list[tuple[str, str, str, datetime | None]]  # name, phone, last campaign, when
    left_out: bool  # the campaign leaves them out (`exclude_recent_days`)


@dataclass(frozen=True)
class Review:
    audience: segments.AudienceCount
    included: list[tuple[str, int]]  # each included segment: its reachable contacts (before overlaps)
    excluded: list[tuple[str, int]]  # each excluded segment: the included contacts it removes
    missing: list[tuple[str, int]]  # each template variable: reachable contacts with no value (skipped)
    recipients: int  # what will be sent: reachable minus skipped
    samples: list[Sample]
    start: datetime  # when the first message may leave (quiet hours applied)
    rate: float  # messages per second chosen (capped by the number's throughput)
    observed_rate: float | None  # the best the provider did lately, when known
    duration_seconds: float  # sending time, at the lower of the two rates
    finish: datetime  # the last message, quiet hours included
    price: float  # FCFA per delivered message of this category
    cost_fcfa: float
    guards: list[Guard] = field(default_factory=list)
    overlap: Overlap | None = None

    @property
    def blocked(self) -> bool:
        return any(g.blocking and not g.ok for g in self.guards)


def finish_at(quiet: tuple[str, str] | None, start: datetime, seconds: float) -> datetime:
    """When `seconds` of sending that begin at `start` end, pausing through every quiet period."""
    at, left = campaigns.first_send_at(quiet, start), max(0.0, seconds)
    if quiet is None:
        return at + timedelta(seconds=left)
    begins = time.fromisoformat(quiet[0])
    for _ in range(3660):  # ten years of days: the loop ends long before
        local = at.astimezone(local_tz())
        next_quiet = local.replace(hour=begins.hour, minute=begins.minute, second=0, microsecond=0)
        if next_quiet <= local:
            next_quiet += timedelta(days=1)
        window = (next_quiet - local).total_seconds()
        if left <= window:
            return at + timedelta(seconds=left)
        left -= window
        at = campaigns.first_send_at(quiet, next_quiet)
    raise UserError("Durée d'envoi impossible à estimer.")


def observed_rate(session: Session, *, at_least: float, now: datetime | None = None) -> float | None:
    """Messages per second the provider accepted in the best minute of the last OBSERVED_DAYS, over
    campaigns allowed to go at least `at_least` per second (a slower campaign says nothing of the
    provider); None when too little was sent to tell."""
    since = (now or utcnow()) - timedelta(days=OBSERVED_DAYS)
    cap = get_settings().max_send_rate
    recent = [c for c in session.scalars(select(Campaign).where(Campaign.started_at >= since))
              if min(c.rate_limit or cap, cap) >= at_least]
    if not recent:
        return None
    pg = session.get_bind().dialect.name == "postgresql"
    minute = func.date_trunc("minute", Recipient.sent_at) if pg else func.strftime("%Y-%m-%d %H:%M", Recipient.sent_at)
    per_minute = (select(func.count().label("n")).where(Recipient.campaign_id.in_([c.id for c in recent]),
                                                        Recipient.sent_at >= since)
                  .group_by(minute).subquery())
    best = session.scalar(select(func.max(per_minute.c.n)))
    if not best or best < OBSERVED_MIN_PER_MINUTE:
        return None
    return round(float(best) / 60.0, 1)


def review(session: Session, data: campaigns.CampaignInput, *, actor: User | None = None,
           draft_id: int | None = None, now: datetime | None = None) -> Review:
    """The review of the campaign described by `data` (a new one, or the draft `draft_id`)."""
    now = now or utcnow()
    template = session.get(Template, data.template_id)
    if template is None:
        raise UserError("Modèle introuvable.")
    include, exclude = list(data.include_segment_ids), list(data.exclude_segment_ids or [])
    marketing = campaigns.is_marketing(template)
    cutoff = campaigns.contacted_cutoff(data.exclude_recent_days, now)
    audience = segments.count_audience(session, include, exclude, marketing=marketing, not_contacted_since=cutoff)
    reachable = segments.audience_condition(session, include, exclude, marketing=marketing,
                                            not_contacted_since=cutoff)
    names = {s.id: s.name for s in segments.list_all(session)}
    included = [(names.get(sid, f"n° {sid}"), audience.reachable if include == [sid] and not exclude and not cutoff else
                 segments.count_audience(session, [sid], marketing=marketing).reachable) for sid in include]
    before_exclusions = segments.audience_condition(session, include, marketing=marketing)
    excluded = [(names.get(sid, f"n° {sid}"), session.scalar(select(func.count()).select_from(Contact).where(
        before_exclusions, segments.membership_condition(session, sid))) or 0) for sid in exclude]
    data_t = templates.as_dict(template)
    mapping = data.variable_mapping if data.variable_mapping is not None else (template.variable_mapping or {})
    keys = templates.variable_keys(data_t)
    missing: list[tuple[str, int]] = []
    if templates.validate_mapping(data_t, mapping):
        skipped = audience.reachable  # an incomplete mapping: the launch is refused anyway
    elif keys:  # one scan: per variable, and any of them (what the launch skips)
        empty = [campaigns.variable_sql(mapping[k]).is_(None) for k in keys]
        counts = session.execute(select(*[func.count().filter(e) for e in empty], func.count().filter(or_(*empty)))
                                 .select_from(Contact).where(reachable)).one()
        missing = [(key, int(n)) for key, n in zip(keys, counts[:-1], strict=True) if n]
        skipped = int(counts[-1])
    else:
        skipped = 0
    samples = []
    for contact in session.scalars(select(Contact).where(reachable).order_by(Contact.id).limit(SAMPLES)):
        rendered = templates.render(data_t, mapping, templates.contact_values(contact))
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or "(sans nom)"
        samples.append(Sample(name, contact.phone, templates.fill(data_t["body"], rendered.parameters.get("body", []))
                              if rendered.ok else None, rendered.skip_reason))
    quiet = campaigns.parse_quiet_hours(data.quiet_hours)
    cap = get_settings().max_send_rate
    rate = float(min(data.rate_limit or cap, cap))
    seen = observed_rate(session, at_least=rate, now=now)
    recipients = audience.reachable - skipped
    seconds = recipients / min(rate, seen or rate)
    start = campaigns.first_send_at(quiet, max(data.scheduled_at or now, now))
    price = campaigns.price_per_message(template.category)
    guards = _guards(session, data, template, actor=actor, draft_id=draft_id, recipients=recipients, now=now)
    guards += _spending(session, data, recipients, price, start)
    finish = finish_at(quiet, start, seconds)
    if data.ends_at is not None:
        if finish <= data.ends_at:
            guards.append(Guard(True, f"Date de fin le {format_dt(data.ends_at)} : l'envoi finit avant."))
        else:
            guards.append(Guard(False, f"Date de fin le {format_dt(data.ends_at)} : à la cadence prévue, l'envoi "
                                f"finirait le {format_dt(finish)} ; ce qui ne sera pas parti à la date de fin ne "
                                "partira pas."))
    return Review(audience, included, excluded, missing, recipients, samples, start, rate, seen, seconds,
                  finish, price, recipients * price, guards,
                  overlap(session, data, template, now=now))


def overlap(session: Session, data: campaigns.CampaignInput, template: Template, *,
            now: datetime | None = None) -> Overlap:
    """Who in this audience a campaign message reached in the last days: they would get a second
    one. When the campaign already leaves them out, how many that is."""
    now = now or utcnow()
    days = data.exclude_recent_days or get_settings().overlap_days
    since = now - timedelta(days=days)
    include, exclude = list(data.include_segment_ids), list(data.exclude_segment_ids or [])
    marketing = campaigns.is_marketing(template)
    everyone = segments.audience_condition(session, include, exclude, marketing=marketing)
    contacted = segments.contacted_since(since)
    same = Contact.id.in_(select(Recipient.contact_id).join(Campaign, Campaign.id == Recipient.campaign_id).where(
        Recipient.sent_at >= since, Campaign.template_id == template.id,
        Recipient.status.in_([RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ])))
    people, same_template = session.execute(select(func.count().filter(contacted), func.count().filter(same))
                                            .select_from(Contact).where(everyone)).one()
    sample = []
    first = select(Contact).where(everyone, contacted).order_by(Contact.id).limit(OVERLAP_SAMPLE)
    for contact in session.scalars(first):
        last = session.execute(
            select(Campaign.name, Recipient.sent_at).join(Campaign, Campaign.id == Recipient.campaign_id)
            .where(Recipient.contact_id == contact.id, Recipient.sent_at >= since)
            .order_by(Recipient.sent_at.desc()).limit(1)).first()
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or "(sans nom)"
        sample.append((name, contact.phone, last.name if last else "", last.sent_at if last else None))
    return Overlap(days, int(people or 0), int(same_template or 0), sample, data.exclude_recent_days is not None)


def _fcfa(value: float) -> str:
    return fmt.fcfa(value)


def _spending(session: Session, data: campaigns.CampaignInput, recipients: int, price: float,
              start: datetime) -> list[Guard]:
    """The spending cap and WhatsApp's messaging limit, as they will hold this campaign back."""
    guards = []
    if data.budget_fcfa is not None and price > 0:
        covered = int(data.budget_fcfa // price)
        if covered >= recipients:
            guards.append(Guard(True, f"Plafond de dépense de {_fcfa(data.budget_fcfa)} : la campagne entière "
                                f"({_fcfa(recipients * price)}) tient dessous."))
        else:
            guards.append(Guard(False, f"Plafond de dépense de {_fcfa(data.budget_fcfa)} : il couvre {covered} "
                                f"messages sur {recipients} ; l'envoi se mettra en pause après {covered}."))
    note = limits.plan(session, recipients, start)
    if note is not None:
        current = limits.window(session, now=start)
        guards.append(Guard(current is not None and recipients <= current.remaining, note))
    return guards


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def _guards(session: Session, data: campaigns.CampaignInput, template: Template, *, actor: User | None,
            draft_id: int | None, recipients: int, now: datetime) -> list[Guard]:
    guards = []
    past = campaigns.past_start_error(data.scheduled_at, now)
    if past:
        guards.append(Guard(False, past, blocking=True))
    else:
        guards.append(Guard(True, "Départ dès le lancement." if data.scheduled_at is None else
                            "Date de départ à venir."))
    if recipients:
        guards.append(Guard(True, f"{_plural(recipients, 'destinataire')} à qui envoyer le message."))
    else:
        guards.append(Guard(False, "Personne ne recevrait ce message : vérifiez les segments et les variables.",
                            blocking=True))
    if problem := templates.status_problem(template.status):
        guards.append(Guard(False, f"Le modèle « {template.name} » {problem}.", blocking=True))
    if actor is not None:
        twin = campaigns.recent_duplicate(session, data, actor, now=now, other_than=draft_id)
        if twin is None:
            guards.append(Guard(True, "Aucune campagne identique créée par vous dans les 10 dernières minutes."))
        else:
            guards.append(Guard(False, f"Vous venez de créer cette campagne (n° {twin.id}, « {twin.name} ») : elle "
                                "ne sera pas créée une seconde fois.", blocking=True))
    tested = session.scalar(select(func.max(AuditLog.at)).where(
        AuditLog.action == "template_test_sent", AuditLog.target_type == "template",
        AuditLog.target_id == str(template.id), AuditLog.at >= now - TEST_RECENT))
    if tested is not None:
        guards.append(Guard(True, f"Envoi de test de ce modèle le {tested.astimezone(local_tz()):%d/%m/%Y à %H:%M}."))
    else:
        guards.append(Guard(False, "Aucun envoi de test de ce modèle depuis 24 h : un envoi de test (étape 4 de "
                            "l'assistant) montre le message sur un vrai téléphone."))
    busy = session.scalar(select(func.count()).select_from(Campaign).where(
        Campaign.template_id == template.id, Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.SCHEDULED]),
        Campaign.id != (draft_id or -1))) or 0
    if busy:
        guards.append(Guard(False, f"Ce modèle est déjà utilisé par {_plural(busy, 'campagne')} en cours ou "
                            "programmée" + ("s." if busy > 1 else ".")))
    return guards
