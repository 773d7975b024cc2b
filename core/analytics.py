"""What supervisors look at, computed in the database. Message figures come from the summary tables
of core/stats.py (per campaign and UTC hour: a few thousand rows where the ledger has millions),
which are exact for every campaign refreshed; contacts, consent and the chatbot are counted
directly. Periods are dates in Africa/Libreville (UTC+1 all year, so a Libreville day is 24 whole
UTC hours); time buckets are Libreville hours and days. Nothing loads raw rows into pandas."""

from __future__ import annotations

import functools
import time as clock
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core import figures, labels, stats
from core.campaigns import price_per_message
from core.models import (
    AttributeStats,
    Campaign,
    ChatbotInteraction,
    ConsentEvent,
    Contact,
    DelayStats,
    RecipientStats,
    Segment,
    Template,
)
from core.respondio import code_label
from core.timeutil import local_tz

Stats = RecipientStats  # the hourly summary rows
ATTEMPTED, DELIVERED = figures.SENT, figures.DELIVERED  # core/figures.py defines every figure


@dataclass(frozen=True)
class Filters:
    start: date  # first day, Libreville
    end: date  # last day, included
    campaign_ids: tuple[int, ...] = ()
    template_id: int | None = None
    segment_id: int | None = None  # campaigns whose audience included this segment

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=local_tz())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=local_tz())

    def previous(self) -> Filters:
        days = (self.end - self.start).days + 1
        return Filters(self.start - timedelta(days=days), self.start - timedelta(days=1), self.campaign_ids,
                       self.template_id, self.segment_id)


def campaigns_with_segment(session: Session, segment_id: int) -> list[int]:
    """Campaigns whose included segments contain this one (the list of campaigns is short)."""
    return [cid for cid, included in session.execute(select(Campaign.id, Campaign.include_segment_ids)).all()
            if segment_id in (included or [])]


def _campaign_scope(session: Session, f: Filters, column: Any) -> list[Any]:
    conditions: list[Any] = []
    if f.campaign_ids:
        conditions.append(column.in_(f.campaign_ids))
    if f.template_id is not None:
        conditions.append(column.in_(select(Campaign.id).where(Campaign.template_id == f.template_id)))
    if f.segment_id is not None:
        conditions.append(column.in_(campaigns_with_segment(session, f.segment_id) or [-1]))
    return conditions


def _scope(session: Session, f: Filters, table: Any = Stats) -> list[Any]:
    return [table.hour >= f.since, table.hour < f.until, *_campaign_scope(session, f, table.campaign_id)]


def _funnel_columns(table: Any = Stats) -> list[Any]:
    return [func.coalesce(func.sum(case((table.status.in_(ATTEMPTED), table.n), else_=0)), 0),
            func.coalesce(func.sum(case((table.status.in_(DELIVERED), table.n), else_=0)), 0),
            func.coalesce(func.sum(case((table.status == "read", table.n), else_=0)), 0),
            func.coalesce(func.sum(case((table.status.in_(ATTEMPTED), table.replied), else_=0)), 0),
            func.coalesce(func.sum(case((table.status == "failed", table.n), else_=0)), 0)]


def _funnel(values: Any) -> dict[str, Any]:
    return figures.Funnel(*(int(v or 0) for v in values)).as_dict()


# --- KPIs ---------------------------------------------------------------------------------------

@dataclass
class Kpis:
    contacts: int = 0
    opted_in_share: float = 0.0
    opt_outs: int = 0
    campaigns: int = 0
    sent: int = 0  # every send attempt, failed ones included
    delivered: int = 0
    read: int = 0
    failed: int = 0
    replied: int = 0
    bot_answered: int = 0
    bot_handed_over: int = 0
    spend_fcfa: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)


def contacts_by_consent(session: Session) -> dict[str, int]:
    return {s: int(n) for s, n in session.execute(select(Contact.consent_status, func.count()).where(
        Contact.erased_at.is_(None)).group_by(Contact.consent_status)).all()}


def kpis(session: Session, f: Filters, consent: dict[str, int] | None = None) -> Kpis:
    out = Kpis()
    consent = contacts_by_consent(session) if consent is None else consent
    out.contacts = sum(consent.values())
    out.opted_in_share = consent.get("opted_in", 0) / out.contacts if out.contacts else 0.0
    out.opt_outs = session.scalar(select(func.count()).select_from(ConsentEvent).where(
        ConsentEvent.status == "opted_out", ConsentEvent.at >= f.since, ConsentEvent.at < f.until)) or 0
    rows = session.execute(
        select(Template.category, func.count(func.distinct(Stats.campaign_id)), *_funnel_columns())
        .join(Campaign, Campaign.id == Stats.campaign_id)
        .join(Template, Template.id == Campaign.template_id, isouter=True)
        .where(*_scope(session, f)).group_by(Template.category)).all()
    for category, campaigns, *values in rows:
        funnel = _funnel(values)
        out.campaigns += int(campaigns)
        for key in ("sent", "delivered", "read", "failed", "replied"):
            setattr(out, key, getattr(out, key) + funnel[key])
        out.spend_fcfa += price_per_message(category or "UTILITY") * funnel["delivered"]
    bot = session.execute(select(func.sum(case((ChatbotInteraction.handed_over.is_(False), 1), else_=0)),
                                 func.sum(case((ChatbotInteraction.handed_over.is_(True), 1), else_=0)))
                          .where(ChatbotInteraction.created_at >= f.since, ChatbotInteraction.created_at < f.until,
                                 ChatbotInteraction.channel == figures.BOT_CHANNEL)).one()
    out.bot_answered, out.bot_handed_over = int(bot[0] or 0), int(bot[1] or 0)
    sent = out.sent
    out.rates = {key: (getattr(out, key) / sent if sent else 0.0) for key in ("delivered", "read", "failed", "replied")}
    return out


# --- campaigns and breakdowns ----------------------------------------------------------------------

def funnel_by_campaign(session: Session, f: Filters) -> list[dict[str, Any]]:
    """Sent → delivered → read → replied, failures, and the opt-outs caused (people who opted out
    within REPLY_ATTRIBUTION_DAYS of the campaign's message), for each campaign with messages in the
    period."""
    rows = session.execute(select(Campaign.id, Campaign.name, func.coalesce(func.sum(Stats.opted_out), 0),
                                  *_funnel_columns())
                           .join(Campaign, Campaign.id == Stats.campaign_id).where(*_scope(session, f))
                           .group_by(Campaign.id, Campaign.name).order_by(Campaign.id)).all()
    return [{"campaign_id": r[0], "campaign": r[1], **_funnel(r[3:]), "opt_outs": int(r[2])} for r in rows]


def breakdown(session: Session, f: Filters, by: str) -> list[dict[str, Any]]:
    """The funnel by `template`, `category`, `segment` or `attribute:<key>` (a contact attribute
    named in ANALYTICS_ATTRIBUTES). A campaign sent to two segments counts for each of them."""
    if by.startswith("attribute:"):
        A = AttributeStats
        rows = session.execute(select(A.value, *_funnel_columns(A))
                               .where(A.attribute == by.split(":", 1)[1], *_scope(session, f, A))
                               .group_by(A.value).order_by(A.value)).all()
        return [{"label": value or "(non renseigné)", **_funnel(values)} for value, *values in rows]
    if by in ("template", "category"):
        key = Template.name if by == "template" else Template.category
        rows = session.execute(select(key, *_funnel_columns()).join(Campaign, Campaign.id == Stats.campaign_id)
                               .join(Template, Template.id == Campaign.template_id)
                               .where(*_scope(session, f)).group_by(key).order_by(key)).all()
        return [{"label": labels.TEMPLATE_CATEGORY.get(label, label) if by == "category" else label, **_funnel(values)}
                for label, *values in rows]
    if by == "segment":
        per_campaign = {r[0]: r[1:] for r in session.execute(
            select(Stats.campaign_id, *_funnel_columns()).where(*_scope(session, f)).group_by(Stats.campaign_id)).all()}
        if not per_campaign:
            return []
        names = dict(session.execute(select(Segment.id, Segment.name)).all())
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for cid, included in session.execute(select(Campaign.id, Campaign.include_segment_ids)
                                             .where(Campaign.id.in_(per_campaign))).all():
            for segment_id in included or []:
                label = names.get(segment_id, f"Segment {segment_id} (supprimé)")
                totals[label] = [a + int(b or 0) for a, b in zip(totals[label], per_campaign[cid], strict=True)]
        return [{"label": label, **_funnel(values)} for label, values in sorted(totals.items())]
    raise ValueError(f"unknown breakdown {by!r}")


def failures_by_code(session: Session, f: Filters) -> list[dict[str, Any]]:
    rows = session.execute(select(Stats.error_code, func.sum(Stats.n))
                           .where(*_scope(session, f), Stats.status == "failed")
                           .group_by(Stats.error_code).order_by(func.sum(Stats.n).desc())).all()
    return [{"code": code_label(code) if code else "inconnu",
             "meaning": labels.WHATSAPP_ERROR.get(code or "", "Erreur non documentée"), "count": int(n)}
            for code, n in rows]


# --- delays and time ------------------------------------------------------------------------------

def _quantiles(histogram: list[tuple[int, int]]) -> dict[str, float | None]:
    """Median and 90th percentile by position in the ordered values (the lower edge of the bucket
    holding that position: exact to the second under two minutes)."""
    n = sum(count for _, count in histogram)
    out: dict[str, float | None] = {"median": None, "p90": None, "n": n}
    if not n:
        return out
    for name, q in (("median", 0.5), ("p90", 0.9)):
        position, seen = min(n - 1, max(0, int(round(q * (n - 1))))), 0
        for bucket, count in histogram:
            seen += count
            if seen > position:
                out[name] = float(bucket)
                break
    return out


def delays(session: Session, f: Filters) -> dict[str, dict[str, float | None]]:
    """Seconds from sending to delivery, and from sending to reading."""
    D = DelayStats
    rows = session.execute(select(D.kind, D.bucket, func.sum(D.n)).where(*_scope(session, f, D))
                           .group_by(D.kind, D.bucket).order_by(D.kind, D.bucket)).all()
    by_kind: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for kind, bucket, n in rows:
        by_kind[kind].append((int(bucket), int(n)))
    return {"delivery": _quantiles(by_kind["delivery"]), "read": _quantiles(by_kind["read"])}


def _hourly(session: Session, f: Filters) -> list[tuple[datetime, int, int, int]]:
    """(UTC hour, attempts, delivered, read) for every hour of the period with messages."""
    rows = session.execute(select(Stats.hour, *_funnel_columns()[:3]).where(*_scope(session, f))
                           .group_by(Stats.hour).order_by(Stats.hour)).all()
    return [(hour, int(a), int(d), int(r)) for hour, a, d, r in rows]


def over_time(session: Session, f: Filters, hourly: list[tuple[datetime, int, int, int]] | None = None
              ) -> list[dict[str, Any]]:
    """Messages sent, delivered and read per Libreville hour under 7 days, per day beyond."""
    by_hour = (f.end - f.start).days < 7
    buckets: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    for hour, attempts, delivered, read in (hourly if hourly is not None else _hourly(session, f)):
        local = hour.astimezone(local_tz()).replace(tzinfo=None)
        key = local if by_hour else local.replace(hour=0)
        buckets[key] = [a + b for a, b in zip(buckets[key], (attempts, delivered, read), strict=True)]
    return [{"bucket": k, "sent": v[0], "delivered": v[1], "read": v[2]}
            for k, v in ((k, buckets.get(k, [0, 0, 0])) for k in _buckets(f, by_hour=by_hour, extra=buckets))]


def _buckets(f: Filters, *, by_hour: bool, extra: Any = ()) -> list[datetime]:
    """Every hour (or day) of the period, in Libreville time without its zone, up to now: a chart
    shows the hours and days with no sends as zero instead of drawing a line across them."""
    end = min(f.until, datetime.now(local_tz()) + timedelta(hours=1)).astimezone(local_tz()).replace(tzinfo=None)
    moment = f.since.astimezone(local_tz()).replace(tzinfo=None)
    step = timedelta(hours=1) if by_hour else timedelta(days=1)
    out = []
    while moment < end:
        out.append(moment)
        moment += step
    return sorted(set(out) | set(extra))


def read_rate_by_hour(session: Session, f: Filters, hourly: list[tuple[datetime, int, int, int]] | None = None
                      ) -> list[dict[str, Any]]:
    """Read rate by Libreville hour of sending and day of week (0 = Monday), to choose sending times."""
    cells: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for hour, attempts, _, read in (hourly if hourly is not None else _hourly(session, f)):
        local = hour.astimezone(local_tz())
        cell = cells[(local.weekday(), local.hour)]
        cell[0] += attempts
        cell[1] += read
    return [{"weekday": d, "hour": h, "sent": n, "read": r, "read_rate": r / n if n else 0.0}
            for (d, h), (n, r) in sorted(cells.items())]


# --- chatbot --------------------------------------------------------------------------------------

def chatbot(session: Session, f: Filters) -> dict[str, Any]:
    C = ChatbotInteraction
    scope = [C.created_at >= f.since, C.created_at < f.until, C.channel == figures.BOT_CHANNEL]
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    hour = func.date_trunc("hour", func.timezone("UTC", C.created_at)) \
        if session.get_bind().dialect.name == "postgresql" else func.strftime("%Y-%m-%d %H:00:00", C.created_at)
    for bucket, n, refused, handed in session.execute(
            select(hour, func.count(), func.sum(case((C.refused.is_(True), 1), else_=0)),
                   func.sum(case((C.handed_over.is_(True), 1), else_=0))).where(*scope).group_by(hour)).all():
        moment = bucket if isinstance(bucket, datetime) else datetime.fromisoformat(str(bucket))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        day = moment.astimezone(local_tz()).date().isoformat()
        per_day[day] = [a + int(b or 0) for a, b in zip(per_day[day], (n, refused, handed), strict=True)]
    topics = session.execute(select(C.topic, func.count()).where(*scope, C.topic.is_not(None)).group_by(C.topic)
                             .order_by(func.count().desc()).limit(10)).all()
    # Answers staff judged unhelpful, from the playground as well: a list to review, not a figure.
    thumbs_down = session.execute(select(C.created_at, C.question, C.answer, C.feedback_comment)
                                  .where(*scope[:2], C.feedback == -1).order_by(C.created_at.desc()).limit(50)).all()
    days = {moment.date().isoformat() for moment in _buckets(f, by_hour=False)} if per_day else set()
    return {"per_day": [{"day": d, "questions": n, "refused": r, "handed_over": h, "answered": n - h}
                        for d in sorted(days | set(per_day)) for n, r, h in [per_day.get(d, [0, 0, 0])]],
            "topics": [{"topic": t, "count": n} for t, n in topics],
            "thumbs_down": [{"at": at, "question": q, "answer": a, "comment": c} for at, q, a, c in thumbs_down]}


# --- the screen's figures, all at once ---------------------------------------------------------------

BREAKDOWNS = ("template", "category", "segment")
SCREEN_REFRESH_ROWS = 200_000


def compute(session: Session, f: Filters, *, timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Every figure of the statistics screen, after bringing the summaries up to date. `timings`
    receives the seconds each query took (the benchmark prints them)."""

    def timed(name: str, function: Callable[[], Any]) -> Any:
        started = clock.perf_counter()
        result = function()
        if timings is not None:
            timings[name] = clock.perf_counter() - started
        return result

    # Small campaigns are brought up to date here; big ones by the scheduler (figures at most a few
    # minutes old while a million-row campaign is still sending).
    timed("refresh", lambda: stats.refresh(session, max_rows=SCREEN_REFRESH_ROWS))
    consent = timed("contacts_by_consent", lambda: contacts_by_consent(session))
    hourly = timed("hourly", lambda: _hourly(session, f))
    data: dict[str, Any] = {
        "kpis": asdict(timed("kpis", lambda: kpis(session, f, consent))),
        "before": asdict(timed("kpis_previous", lambda: kpis(session, f.previous(), consent))),
        "funnel": timed("funnel_by_campaign", lambda: funnel_by_campaign(session, f)),
        "failures": timed("failures_by_code", lambda: failures_by_code(session, f)),
        "delays": timed("delays", lambda: delays(session, f)),
        "over_time": over_time(session, f, hourly),
        "by_hour": read_rate_by_hour(session, f, hourly),
        "chatbot": timed("chatbot", lambda: chatbot(session, f)),
        "breakdowns": {by: timed(f"breakdown_{by}", functools.partial(breakdown, session, f, by))
                       for by in BREAKDOWNS},
        "attributes": {key: timed(f"breakdown_attribute_{key}", functools.partial(breakdown, session, f,
                                                                                   f"attribute:{key}"))
                       for key in stats.attribute_keys()},
    }
    return data
