"""What supervisors look at, computed in the database with SQL aggregations over the ledger, the
consent history and the chatbot's records (never raw rows in pandas). Periods are given as dates
in Africa/Libreville; time buckets are Libreville hours and days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, func, select
from sqlalchemy.orm import Session

from core.config import get_settings
from core.models import (
    Campaign, ChatbotInteraction, ConsentEvent, Contact, Recipient, Template,
)
from core.respondio import ERROR_LABELS
from core.timeutil import local_tz

R = Recipient
SENT_STATES = ("sent", "delivered", "read")


@dataclass(frozen=True)
class Filters:
    start: date  # first day, Libreville
    end: date  # last day, included
    campaign_ids: tuple[int, ...] = ()
    template_id: int | None = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=local_tz())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=local_tz())

    def previous(self) -> Filters:
        days = (self.end - self.start).days + 1
        return Filters(self.start - timedelta(days=days), self.start - timedelta(days=1), self.campaign_ids,
                       self.template_id)


def _ledger_scope(f: Filters) -> list[Any]:
    conditions: list[Any] = [R.sent_at >= f.since, R.sent_at < f.until]
    if f.campaign_ids:
        conditions.append(R.campaign_id.in_(f.campaign_ids))
    if f.template_id is not None:
        conditions.append(R.campaign_id.in_(select(Campaign.id).where(Campaign.template_id == f.template_id)))
    return conditions


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


@dataclass
class Kpis:
    contacts: int = 0
    opted_in_share: float = 0.0
    opt_outs: int = 0
    campaigns: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    replied: int = 0
    bot_answered: int = 0
    bot_handed_over: int = 0
    spend_fcfa: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)


def kpis(session: Session, f: Filters) -> Kpis:
    out = Kpis()
    live = Contact.erased_at.is_(None)
    out.contacts = session.scalar(select(func.count()).select_from(Contact).where(live)) or 0
    opted_in = session.scalar(select(func.count()).select_from(Contact).where(live, Contact.consent_status ==
                                                                                "opted_in")) or 0
    out.opted_in_share = opted_in / out.contacts if out.contacts else 0.0
    out.opt_outs = session.scalar(select(func.count()).select_from(ConsentEvent).where(
        ConsentEvent.status == "opted_out", ConsentEvent.at >= f.since, ConsentEvent.at < f.until)) or 0
    row = session.execute(
        select(func.count(func.distinct(R.campaign_id)),
               _count_if(R.status.in_(SENT_STATES)), _count_if(R.status.in_(("delivered", "read"))),
               _count_if(R.status == "read"), _count_if(R.status == "failed"), _count_if(R.replied_at.is_not(None)))
        .where(*_ledger_scope(f))).one()
    out.campaigns, out.sent, out.delivered, out.read, out.failed, out.replied = (int(v or 0) for v in row)
    out.sent += out.failed  # every request that left counts as sent, failed ones included
    prices = session.execute(
        select(Template.category, func.count()).select_from(R).join(Campaign, Campaign.id == R.campaign_id)
        .join(Template, Template.id == Campaign.template_id)
        .where(*_ledger_scope(f), R.status.in_(("delivered", "read"))).group_by(Template.category)).all()
    from core.campaigns import price_per_message

    out.spend_fcfa = float(sum(price_per_message(category) * n for category, n in prices))
    bot = session.execute(select(_count_if(ChatbotInteraction.handed_over.is_(False)),
                                 _count_if(ChatbotInteraction.handed_over.is_(True)))
                          .where(ChatbotInteraction.created_at >= f.since, ChatbotInteraction.created_at < f.until,
                                 ChatbotInteraction.channel == "whatsapp")).one()
    out.bot_answered, out.bot_handed_over = int(bot[0] or 0), int(bot[1] or 0)
    sent = out.sent or 1
    out.rates = {"delivered": out.delivered / sent if out.sent else 0.0, "read": out.read / sent if out.sent else 0.0,
                 "failed": out.failed / sent if out.sent else 0.0, "replied": out.replied / sent if out.sent else 0.0}
    return out


def funnel_by_campaign(session: Session, f: Filters) -> list[dict[str, Any]]:
    """Sent → delivered → read → replied for each campaign with messages in the period."""
    rows = session.execute(
        select(Campaign.id, Campaign.name, _count_if(R.status.in_((*SENT_STATES, "failed"))),
               _count_if(R.status.in_(("delivered", "read"))), _count_if(R.status == "read"),
               _count_if(R.replied_at.is_not(None)), _count_if(R.status == "failed"))
        .join(Campaign, Campaign.id == R.campaign_id).where(*_ledger_scope(f))
        .group_by(Campaign.id, Campaign.name).order_by(Campaign.id)).all()
    return [{"campaign_id": r[0], "campaign": r[1], "sent": int(r[2] or 0), "delivered": int(r[3] or 0),
             "read": int(r[4] or 0), "replied": int(r[5] or 0), "failed": int(r[6] or 0)} for r in rows]


def failures_by_code(session: Session, f: Filters) -> list[dict[str, Any]]:
    rows = session.execute(select(R.error_code, func.count()).where(*_ledger_scope(f), R.status == "failed")
                           .group_by(R.error_code).order_by(func.count().desc())).all()
    return [{"code": code or "inconnu", "meaning": ERROR_LABELS.get(code or "", "Erreur non documentée"), "count": n}
            for code, n in rows]


def _seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _quantiles(session: Session, expression: Any, conditions: list[Any]) -> dict[str, float | None]:
    """Median and 90th percentile, by position in the ordered values (same answer on every database)."""
    n = session.scalar(select(func.count()).select_from(R).where(*conditions)) or 0
    out: dict[str, float | None] = {"median": None, "p90": None, "n": n}
    if not n:
        return out
    for name, q in (("median", 0.5), ("p90", 0.9)):
        position = min(n - 1, max(0, int(round(q * (n - 1)))))
        out[name] = float(session.scalar(select(expression).select_from(R).where(*conditions)
                                         .order_by(expression).offset(position).limit(1)) or 0.0)
    return out


def delays(session: Session, f: Filters) -> dict[str, dict[str, float | None]]:
    """Seconds from sending to delivery, and from sending to reading."""
    scope = _ledger_scope(f)
    to_delivery = _seconds_between(session, R.delivered_at, R.sent_at)
    to_read = _seconds_between(session, R.read_at, R.sent_at)
    return {"delivery": _quantiles(session, to_delivery, [*scope, R.delivered_at.is_not(None)]),
            "read": _quantiles(session, to_read, [*scope, R.read_at.is_not(None)])}


def _local(session: Session, column: Any) -> Any:
    """The column in Libreville time (UTC+1 all year: no daylight saving)."""
    offset = int(datetime.now(local_tz()).utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
    if session.get_bind().dialect.name == "postgresql":
        return func.timezone(get_settings().timezone, column)
    return func.datetime(column, f"{offset:+d} hours")


def over_time(session: Session, f: Filters) -> list[dict[str, Any]]:
    """Messages sent, delivered and read per Libreville hour under 7 days, per day beyond."""
    hourly = (f.end - f.start).days < 7
    local = _local(session, R.sent_at)
    if session.get_bind().dialect.name == "postgresql":
        bucket = func.date_trunc("hour" if hourly else "day", local)
    else:
        bucket = func.strftime("%Y-%m-%d %H:00:00" if hourly else "%Y-%m-%d 00:00:00", local)
    rows = session.execute(
        select(bucket.label("bucket"), func.count(), _count_if(R.status.in_(("delivered", "read"))),
               _count_if(R.status == "read")).where(*_ledger_scope(f)).group_by(bucket).order_by(bucket)).all()
    return [{"bucket": b if isinstance(b, datetime) else datetime.fromisoformat(str(b)), "sent": int(s or 0),
             "delivered": int(d or 0), "read": int(r or 0)} for b, s, d, r in rows]


def read_rate_by_hour(session: Session, f: Filters) -> list[dict[str, Any]]:
    """Read rate by Libreville hour of sending and day of week (0 = Monday), to choose sending times."""
    local = _local(session, R.sent_at)
    if session.get_bind().dialect.name == "postgresql":
        hour, dow = cast(func.extract("hour", local), Integer), cast(func.extract("isodow", local), Integer) - 1
    else:
        hour = cast(func.strftime("%H", local), Integer)
        dow = (cast(func.strftime("%w", local), Integer) + 6) % 7
    rows = session.execute(select(dow, hour, func.count(), _count_if(R.status == "read"))
                           .where(*_ledger_scope(f)).group_by(dow, hour).order_by(dow, hour)).all()
    return [{"weekday": int(d), "hour": int(h), "sent": int(n), "read": int(r or 0),
             "read_rate": (int(r or 0) / n) if n else 0.0} for d, h, n, r in rows]


def chatbot(session: Session, f: Filters) -> dict[str, Any]:
    scope = [ChatbotInteraction.created_at >= f.since, ChatbotInteraction.created_at < f.until]
    day = func.date(_local(session, ChatbotInteraction.created_at))
    per_day = session.execute(select(day, func.count(), _count_if(ChatbotInteraction.refused.is_(True)),
                                     _count_if(ChatbotInteraction.handed_over.is_(True)))
                              .where(*scope).group_by(day).order_by(day)).all()
    topics = session.execute(select(ChatbotInteraction.topic, func.count()).where(
        *scope, ChatbotInteraction.topic.is_not(None)).group_by(ChatbotInteraction.topic)
        .order_by(func.count().desc()).limit(10)).all()
    thumbs_down = session.execute(select(ChatbotInteraction.created_at, ChatbotInteraction.question,
                                         ChatbotInteraction.answer, ChatbotInteraction.feedback_comment)
                                  .where(*scope, ChatbotInteraction.feedback == -1)
                                  .order_by(ChatbotInteraction.created_at.desc()).limit(50)).all()
    return {"per_day": [{"day": str(d), "questions": int(n), "refused": int(r or 0), "handed_over": int(h or 0),
                         "answered": int(n) - int(h or 0)} for d, n, r, h in per_day],
            "topics": [{"topic": t, "count": n} for t, n in topics],
            "thumbs_down": [{"at": at, "question": q, "answer": a, "comment": c} for at, q, a, c in thumbs_down]}
