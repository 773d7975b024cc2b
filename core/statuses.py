"""Delivery statuses: applied forward only, each change kept as an event with its time.

pending < sent < delivered < read. `failed` is final unless a later delivered/read proves it wrong
(WhatsApp statuses arrive out of order). Statuses come from webhooks and from the poller below."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from core import policies, ratelimit, respondio
from core.models import Recipient, RecipientStatus, StatusEvent, UTCDateTime
from core.timeutil import utcnow

log = logging.getLogger(__name__)
RANK = {"pending": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3}


def _move(row: Any, status: str, at: datetime, error_code: str | None, error_message: str | None) -> bool:
    """The forward-only rule, on anything with the recipient's status fields (an ORM row or a
    plain record); returns whether it changed."""
    current = row.status
    if status == "failed":
        if current in ("delivered", "read", "failed", "skipped"):
            return False
        row.status = RecipientStatus.FAILED
        row.failed_at = at
        row.error_code = error_code or row.error_code
        row.error_message = error_message
    elif status in ("sent", "delivered", "read"):
        if current == "skipped" or (current != "failed" and RANK[status] <= RANK.get(current, 0)):
            return False
        row.status = status
        if current == "failed":  # a later delivered/read proves the failure wrong
            row.error_code = None
            row.error_message = None
        if status in ("delivered", "read") and row.delivered_at is None:
            row.delivered_at = at
        if status == "read":
            row.read_at = at
        if row.sent_at is None:
            row.sent_at = at
    else:
        return False
    return True


def apply(session: Session, recipient: Recipient, status: str, *, at: datetime | None = None,
          error_code: str | None = None, error_message: str | None = None, source: str = "poll") -> bool:
    """Move a recipient forward; returns whether anything changed."""
    at = at or utcnow()
    if not _move(recipient, status, at, error_code, error_message):
        return False
    recipient.updated_at = utcnow()
    session.add(StatusEvent(recipient_id=recipient.id, provider_message_id=recipient.provider_message_id,
                            status=status, error_code=error_code, error_message=error_message, source=source,
                            occurred_at=at))
    if status == "failed":
        policies.on_failures(session, [(recipient.id, error_code)])
    return True


Arrival = tuple[str, datetime, "str | None", "str | None"]  # status, time, WhatsApp code, error text
_FIELDS = ("status", "sent_at", "delivered_at", "read_at", "failed_at", "error_code", "error_message")


def apply_many(session: Session, arrivals: dict[str, list[Arrival]], *, source: str) -> tuple[int, set[str]]:
    """Statuses for many messages at once, by provider message id, each message's in time order.
    Returns the number of changes and the ids that matched a ledger row. On PostgreSQL the rows are
    locked, read, updated and their events written in four statements whatever their number; the
    lock (in id order) makes concurrent workers take turns on a message without losing an update."""
    ids = list(arrivals)
    if not ids:
        return 0, set()
    if session.get_bind().dialect.name != "postgresql":
        changed, matched = 0, set()
        for recipient in session.scalars(select(Recipient).where(Recipient.provider_message_id.in_(ids))).all():
            matched.add(recipient.provider_message_id or "")
            for value, at, code, message in sorted(arrivals[recipient.provider_message_id or ""], key=lambda a: a[1]):
                changed += apply(session, recipient, value, at=at, error_code=code, error_message=message,
                                 source=source)
        return changed, matched
    rows = session.execute(text(
        "SELECT id, provider_message_id, " + ", ".join(_FIELDS) + " FROM recipients "
        "WHERE provider_message_id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": ids}).all()
    now = utcnow()
    updates: list[SimpleNamespace] = []
    events: list[dict[str, Any]] = []
    for row in rows:
        record = SimpleNamespace(**row._mapping)
        moved = False
        for value, at, code, message in sorted(arrivals[record.provider_message_id], key=lambda a: a[1]):
            if _move(record, value, at, code, message):
                moved = True
                events.append({"recipient_id": record.id, "provider_message_id": record.provider_message_id,
                               "status": value, "error_code": code, "error_message": message, "occurred_at": at})
        if moved:
            updates.append(record)
    if updates:
        columns = {"id": ("bigint", [u.id for u in updates])}
        for name in _FIELDS:
            values = [getattr(u, name) for u in updates]
            if name.endswith("_at"):
                columns[name] = ("timestamptz", values)
            else:
                columns[name] = ("text", [str(v) if v is not None else None for v in values])
        unnest = ", ".join(f"CAST(:{name} AS {kind}[])" for name, (kind, _) in columns.items())
        assignments = ", ".join(f"{name} = v.{name}" for name in _FIELDS)
        session.execute(text(
            f"UPDATE recipients r SET {assignments}, updated_at = :now "
            f"FROM unnest({unnest}) AS v({', '.join(columns)}) WHERE r.id = v.id"
        ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"now": now, **{name: values for name, (_, values) in columns.items()}})
        session.execute(text(
            "INSERT INTO status_events (recipient_id, provider_message_id, status, error_code, error_message, source, "
            "occurred_at, received_at) SELECT r, m, s, c, e, :source, o, :now FROM unnest(CAST(:r AS bigint[]), "
            "CAST(:m AS text[]), CAST(:s AS text[]), CAST(:c AS text[]), CAST(:e AS text[]), "
            "CAST(:o AS timestamptz[])) AS x(r, m, s, c, e, o)").bindparams(bindparam("now", type_=UTCDateTime())),
            {"source": source, "now": now, "r": [e["recipient_id"] for e in events],
             "m": [e["provider_message_id"] for e in events], "s": [e["status"] for e in events],
             "c": [e["error_code"] for e in events], "e": [e["error_message"] for e in events],
             "o": [e["occurred_at"] for e in events]})
        policies.on_failures(session, [(e["recipient_id"], e["error_code"]) for e in events if e["status"] == "failed"])
    return len(events), {row.provider_message_id for row in rows}


def poll(session: Session, provider: respondio.Provider, *, delay_seconds: float, limit: int = 200,
         max_age: timedelta = timedelta(days=7), now: datetime | None = None,
         pacer: ratelimit.Pacer | None = None, deadline: float | None = None) -> dict[str, int]:
    """Ask the provider about messages still without a final status after `delay_seconds`, one
    batch per call, each request under `pacer` (the status rate shared by every worker)."""
    now = now or utcnow()
    due = now - timedelta(seconds=delay_seconds)
    query = (
        select(Recipient).where(Recipient.status.in_([RecipientStatus.SENT, RecipientStatus.DELIVERED]),
                                Recipient.provider_message_id.is_not(None), Recipient.updated_at <= due,
                                Recipient.sent_at >= now - max_age)
        .order_by(Recipient.updated_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # a webhook applying meanwhile is not overwritten
    rows = session.scalars(query).all()
    changed = errors = 0
    for recipient in rows:
        if deadline is not None and time.monotonic() > deadline:
            break  # the rest at the next tick: a slow provider never holds the scheduler up
        if pacer is not None:
            pacer.acquire()
        try:
            statuses = provider.message_status(recipient.phone, recipient.provider_message_id or "")
        except respondio.ProviderError as err:
            listed = None
            if err.status == 404 and isinstance(err.body, dict):  # Respond.io's own 404: the list decides
                if pacer is not None:
                    pacer.acquire()
                listed = _statuses_from_list(provider, recipient)
            if listed is not None:
                changed += _apply_all(session, recipient, listed, now)
                continue
            errors += 1
            log.info("Status of message %s not obtained: %s", recipient.provider_message_id, err,
                     extra={"campaign_id": recipient.campaign_id, "recipient_id": recipient.id,
                            "message_id": recipient.provider_message_id})
            if not err.transient:
                recipient.updated_at = now  # ask again later, not on every tick
            continue
        changed += _apply_all(session, recipient, statuses, now)
    return {"polled": len(rows), "changed": changed, "errors": errors}


def _apply_all(session: Session, recipient: Recipient, statuses: list[respondio.MessageStatus], now: datetime) -> bool:
    moved = False
    for status in statuses:
        at = datetime.fromtimestamp(status.timestamp, UTC) if status.timestamp else now
        moved |= apply(session, recipient, status.value, at=at, error_code=status.error_code,
                       error_message=status.error_message, source="poll")
    if not moved:
        recipient.updated_at = now
    return moved


def _statuses_from_list(provider: respondio.Provider, recipient: Recipient) -> list[respondio.MessageStatus] | None:
    """A status call answered 404: the message's statuses as the contact's message list gives them;
    if neither knows the message (the list has no trace, or the contact is unknown), it is failed as
    `unverified` (a later delivered/read would still prove otherwise); None when the list cannot be
    read either (ask again later)."""
    try:
        messages = provider.recent_messages(recipient.phone, limit=100)
    except respondio.ProviderError as err:
        if not err.contact_unknown:
            return None
        messages = []
    for message in messages:
        if message.message_id == recipient.provider_message_id:
            return message.statuses
    if len(messages) >= 100:
        return None  # a full page of later messages: it may be further back; ask again later
    log.warning("Message %s unknown to the provider", recipient.provider_message_id,
                extra={"campaign_id": recipient.campaign_id, "recipient_id": recipient.id,
                       "message_id": recipient.provider_message_id})
    return [respondio.MessageStatus("failed", None, respondio.UNVERIFIED,
                                    "Respond.io ne connaît pas ce message (introuvable par son identifiant comme "
                                    "dans la liste des messages du contact)")]
