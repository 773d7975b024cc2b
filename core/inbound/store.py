"""Stored once, claimed in order: the receiver writes each event before it answers 200, so nothing
acknowledged is lost; an `event_id` seen twice is stored once, hence applied once."""

from __future__ import annotations

import logging
from datetime import datetime

import orjson
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import db
from core.inbound.edge import Event, without_nul
from core.models import (
    UTCDateTime,
    WebhookEvent,
)
from core.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # an event that fails this often is set aside (kept, with its error) instead of blocking


def store(session: Session, events: list[Event], *, now: datetime | None = None) -> int:
    """Write events not seen before; returns how many were new. Duplicates are ignored."""
    if not events:
        return 0
    now = now or utcnow()
    unique = {e.event_id: e for e in events}
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the batch, the bodies cast from their text (no re-encoding); `parse` has
        # already removed NUL characters, which PostgreSQL's JSON cannot hold.
        texts = [(e.raw if e.raw is not None else orjson.dumps(without_nul(e.payload))).decode()
                 for e in unique.values()]
        return db.changed(session, text(
            "INSERT INTO webhook_events (event_id, event_type, payload, received_at, attempts) "
            "SELECT e, t, p::jsonb, :now, 0 FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[]), "
            "CAST(:payloads AS text[])) AS x(e, t, p) ON CONFLICT (event_id) DO NOTHING"
        ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"now": now, "ids": list(unique), "types": [e.event_type for e in unique.values()], "payloads": texts})
    rows = [{"event_id": e.event_id, "event_type": e.event_type, "payload": e.payload, "received_at": now,
             "attempts": 0} for e in unique.values()]
    stmt = sqlite_insert(WebhookEvent).on_conflict_do_nothing(index_elements=["event_id"])
    result = session.execute(stmt.returning(WebhookEvent.id), rows)
    return len(result.all())


def pending_count(session: Session) -> int:
    return session.scalar(text("SELECT count(*) FROM webhook_events WHERE processed_at IS NULL")) or 0


def claim(session: Session, limit: int) -> list[WebhookEvent]:
    """The oldest events not yet applied, locked for this worker (others skip them)."""
    stmt = (select(WebhookEvent).where(WebhookEvent.processed_at.is_(None), WebhookEvent.attempts < MAX_ATTEMPTS)
            .order_by(WebhookEvent.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt).all())
