"""Summary tables of the ledger, so that analytics read thousands of rows rather than millions.

Each campaign's rows are summarized per UTC hour of sending (the time of the send attempt: sent,
or failed before it could be sent) into three tables:
- `recipient_stats`: rows by status and WhatsApp error code, how many replied, and how many opted
  out within REPLY_ATTRIBUTION_DAYS of the message (opt-outs the campaign caused);
- `delay_stats`: a histogram of the seconds from sending to delivery and to reading (one-second
  buckets under two minutes, then 10 s, 1 min, 10 min and 1 h: a quantile read from it is the
  lower edge of its bucket, exact to the second under two minutes and within 8 % beyond);
- `attribute_stats`: rows by status for each value of the contact attributes named by
  `ANALYTICS_ATTRIBUTES` (agence, type d'assuré...).

They are kept exact incrementally: any change to a ledger row marks its campaign in `stats_dirty`
(a statement-level trigger on PostgreSQL, a row trigger on SQLite: no code path can forget it), and
so does an opt-out, for the campaigns that messaged the person in the 31 days before;
and `refresh` recomputes only the campaigns marked since the last time, in the same transaction
that takes the marks (a crash leaves them marked), a big campaign no more often than its cost allows.
The scheduler refreshes every `ANALYTICS_REFRESH_SECONDS`; the statistics screen refreshes before it computes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from core.config import get_settings
from core.models import Campaign, StatsDirty
from core.timeutil import utcnow

log = logging.getLogger(__name__)

# Histogram buckets of delays, in seconds: (up to, width). Beyond the last: one-hour buckets.
DELAY_BUCKETS = ((120, 1), (1200, 10), (7200, 60), (86400, 600))


def _bucket_sql(seconds: str, dialect: str) -> str:
    """The lower edge of the bucket of `seconds` (an SQL expression), the same on both databases. A
    millisecond is added first: SQLite's julianday arithmetic gives 29.99999 for 30 s."""
    seconds = f"({seconds} + 0.001)"

    def floor(x: str) -> str:  # PostgreSQL rounds a cast to integer, SQLite truncates it
        return f"CAST(FLOOR({x}) AS INTEGER)" if dialect == "postgresql" else f"CAST({x} AS INTEGER)"

    parts = [f"WHEN {seconds} < {limit} THEN {floor(f'{seconds} / {width}')} * {width}"
             for limit, width in DELAY_BUCKETS]
    return f"CASE WHEN {seconds} < 0 THEN 0 {' '.join(parts)} ELSE {floor(f'{seconds} / 3600')} * 3600 END"


def bucket_of(seconds: float) -> int:
    """Python twin of `_bucket_sql`, for tests and for reading histograms."""
    if seconds < 0:
        return 0
    for limit, width in DELAY_BUCKETS:
        if seconds < limit:
            return int(seconds // width) * width
    return int(seconds // 3600) * 3600


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _expressions(session: Session) -> dict[str, str]:
    if _dialect(session) == "postgresql":
        return {
            "hour": "date_trunc('hour', COALESCE(r.sent_at, r.failed_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
            "to_delivery": "EXTRACT(EPOCH FROM (r.delivered_at - r.sent_at))",
            "to_read": "EXTRACT(EPOCH FROM (r.read_at - r.sent_at))",
            "attribute": "c.attributes ->> :key",
            "within_days": "ce.at <= r.sent_at + make_interval(days => :days)",
        }
    return {
        "hour": "strftime('%Y-%m-%d %H:00:00.000000', COALESCE(r.sent_at, r.failed_at))",
        "to_delivery": "((julianday(r.delivered_at) - julianday(r.sent_at)) * 86400.0)",
        "to_read": "((julianday(r.read_at) - julianday(r.sent_at)) * 86400.0)",
        "attribute": "CAST(json_extract(c.attributes, '$.' || :key) AS TEXT)",
        "within_days": "julianday(ce.at) - julianday(r.sent_at) <= :days",
    }


def attribute_keys() -> list[str]:
    return [k.strip() for k in get_settings().analytics_attributes.split(",") if k.strip()]


def mark(session: Session, campaign_ids: Iterable[int]) -> None:
    """Mark campaigns whose figures changed without an update of their rows (a launch inserts them)."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return
    if _dialect(session) == "postgresql":
        session.execute(text("INSERT INTO stats_dirty (campaign_id) SELECT unnest(CAST(:ids AS integer[])) "
                             "ON CONFLICT DO NOTHING"), {"ids": ids})
    else:
        session.execute(text("INSERT OR IGNORE INTO stats_dirty (campaign_id) VALUES (:id)"), [{"id": i} for i in ids])


def recompute(session: Session, campaign_id: int) -> None:
    """Replace a campaign's summary rows with the ones its ledger gives now."""
    e = _expressions(session)
    ts = "COALESCE(r.sent_at, r.failed_at)"
    for table in ("recipient_stats", "delay_stats", "attribute_stats"):
        session.execute(text(f"DELETE FROM {table} WHERE campaign_id = :c"), {"c": campaign_id})
    opted_out = ("EXISTS (SELECT 1 FROM consent_events ce WHERE ce.contact_id = r.contact_id AND "
                 f"ce.status = 'opted_out' AND ce.at >= r.sent_at AND {e['within_days']})")
    session.execute(text(
        "INSERT INTO recipient_stats (campaign_id, hour, status, error_code, n, replied, opted_out) "
        f"SELECT r.campaign_id, {e['hour']}, r.status, COALESCE(r.error_code, ''), COUNT(*), "
        "SUM(CASE WHEN r.replied_at IS NOT NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN r.sent_at IS NOT NULL AND {opted_out} THEN 1 ELSE 0 END) "
        f"FROM recipients r WHERE r.campaign_id = :c AND {ts} IS NOT NULL "
        "GROUP BY 1, 2, 3, 4"), {"c": campaign_id, "days": get_settings().reply_attribution_days})
    for kind, column in (("delivery", "delivered_at"), ("read", "read_at")):
        bucket = _bucket_sql(e[f"to_{kind}"], _dialect(session))
        session.execute(text(
            "INSERT INTO delay_stats (campaign_id, hour, kind, bucket, n) "
            f"SELECT r.campaign_id, {e['hour']}, '{kind}', {bucket}, COUNT(*) FROM recipients r "
            f"WHERE r.campaign_id = :c AND r.sent_at IS NOT NULL AND r.{column} IS NOT NULL "
            "GROUP BY 1, 2, 3, 4"), {"c": campaign_id})
    keys = attribute_keys()
    if keys:  # one pass over the campaign's rows and their contacts for every attribute
        value = f"COALESCE({e['attribute'].replace(':key', 'k.key')}, '')"
        names = " UNION ALL ".join(f"SELECT :key{i} AS key" for i in range(len(keys)))
        session.execute(text(
            f"WITH k AS ({names}) "
            "INSERT INTO attribute_stats (campaign_id, hour, attribute, value, status, n, replied) "
            f"SELECT r.campaign_id, {e['hour']}, k.key, {value}, r.status, COUNT(*), "
            "SUM(CASE WHEN r.replied_at IS NOT NULL THEN 1 ELSE 0 END) "
            "FROM recipients r JOIN contacts c ON c.id = r.contact_id CROSS JOIN k "
            f"WHERE r.campaign_id = :c AND {ts} IS NOT NULL "
            "GROUP BY 1, 2, 3, 4, 5"), {"c": campaign_id, **{f"key{i}": key for i, key in enumerate(keys)}})


COST_FACTOR = 10  # a campaign is recomputed at most once per 10 times what its last recomputation took


def refresh(session: Session, *, max_rows: int | None = None, limit: int = 50) -> list[int]:
    """Recompute campaigns marked since their last refresh, smallest first. A campaign whose
    recomputation took t seconds waits COST_FACTOR * t before the next one (a million-row campaign
    still sending is refreshed every few minutes, not continuously); with `max_rows`, only campaigns
    whose ledgers add up to at most that many rows (the screen refreshes small campaigns itself and
    leaves big ones to the scheduler). Marks not taken stay for the next call. Several processes may
    call it at once: on PostgreSQL each takes its own marks (SKIP LOCKED)."""
    now = utcnow()
    candidates = session.execute(
        select(StatsDirty.campaign_id, Campaign.total_recipients, Campaign.stats_refreshed_at,
               Campaign.stats_refresh_seconds).join(Campaign, Campaign.id == StatsDirty.campaign_id, isouter=True)
    ).all()
    chosen: list[int] = []
    rows = 0
    for campaign_id, total, refreshed_at, seconds in sorted(candidates, key=lambda c: (c[1] or 0, c[0])):
        if refreshed_at is not None and seconds and (now - refreshed_at).total_seconds() < COST_FACTOR * seconds:
            continue
        if max_rows is not None and rows + (total or 0) > max_rows:
            continue
        chosen.append(campaign_id)
        rows += total or 0
        if len(chosen) >= limit:
            break
    if not chosen:
        return []
    lock = " FOR UPDATE SKIP LOCKED" if _dialect(session) == "postgresql" else ""
    taken = session.execute(
        text(f"DELETE FROM stats_dirty WHERE campaign_id IN (SELECT campaign_id FROM stats_dirty "
             f"WHERE campaign_id IN :ids{lock}) RETURNING campaign_id").bindparams(bindparam("ids", expanding=True)),
        {"ids": chosen}).scalars().all()
    started = time.perf_counter()
    for campaign_id in sorted(taken):
        one = time.perf_counter()
        recompute(session, campaign_id)
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
            stats_refreshed_at=now, stats_refresh_seconds=time.perf_counter() - one))
    if taken:
        log.info("Analytics summaries refreshed for %d campaign(s) in %.2f s", len(taken),
                 time.perf_counter() - started)
    return sorted(taken)


def rebuild(session: Session) -> int:
    """Every campaign with ledger rows, from scratch (after a restore, or to check the summaries)."""
    ids = session.execute(text("SELECT DISTINCT campaign_id FROM recipients")).scalars().all()
    session.execute(text("DELETE FROM stats_dirty"))
    for campaign_id in ids:
        recompute(session, campaign_id)
    return len(ids)


def pending(session: Session) -> int:
    return int(session.execute(text("SELECT COUNT(*) FROM stats_dirty")).scalar() or 0)
