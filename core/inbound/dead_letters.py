"""Events that could not be stored or applied: kept with their error, set aside for an
administrator, who retries or discards them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit, db
from core.errors import UserError
from core.inbound.edge import Event, without_nul
from core.logs import mask_phone
from core.models import (
    User,
    WebhookEvent,
)
from core.timeutil import utcnow

log = logging.getLogger(__name__)


def store_unstorable(session: Session, event: Event, error: Exception, *, now: datetime | None = None) -> int:
    """An event the database refused as it came (after the batch it came in was tried alone): kept as
    text, set aside for an administrator, so that the events behind it move on."""
    now = now or utcnow()
    raw = (event.raw or orjson.dumps(without_nul(event.payload))).decode("utf-8", "replace").replace("\x00", "")
    row = {"event_id": without_nul(event.event_id), "event_type": without_nul(event.event_type),
           "payload": {"_unstorable_body": raw[:1_000_000]}, "received_at": now, "processed_at": now,
           "dead_at": now, "attempts": 1, "error": error_text(error)}
    stored = session.execute(db.insert_for(session)(WebhookEvent).values(**row)
                             .on_conflict_do_nothing(index_elements=["event_id"]).returning(WebhookEvent.id)).all()
    log.error("Inbound event %s (%s) could not be stored as it came: set aside (%s)", event.event_id,
              event.event_type, row["error"], extra={"event_id": event.event_id})
    return len(stored)


def error_text(error: Exception) -> str:
    """What went wrong, for the log and an administrator: the database's own first line rather than
    SQLAlchemy's message (which repeats the statement and its parameters), phones masked."""
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0]
    return mask_phone(f"{type(cause).__name__}: {first}")[:1000]


def _dead() -> Any:
    return (WebhookEvent.dead_at.is_not(None)) & (WebhookEvent.discarded_at.is_(None))


def dead_letter_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(WebhookEvent).where(_dead())) or 0


def dead_letters(session: Session, *, limit: int = 200) -> list[WebhookEvent]:
    """The events set aside, newest first."""
    return list(session.scalars(select(WebhookEvent).where(_dead()).order_by(WebhookEvent.dead_at.desc(),
                                                                              WebhookEvent.id.desc())
                                .limit(limit)).all())


def masked_payload(event: WebhookEvent, *, limit: int = 20_000) -> str:
    """The event's body for an administrator's eyes: phone numbers masked, cut to `limit` characters."""
    body = orjson.dumps(event.payload, option=orjson.OPT_INDENT_2).decode()
    body = mask_phone(body)
    return body if len(body) <= limit else body[:limit] + "\n… (tronqué)"


def _dead_letter(session: Session, event_row_id: int) -> WebhookEvent:
    event = session.get(WebhookEvent, event_row_id)
    if event is None or event.dead_at is None or event.discarded_at is not None:
        raise UserError("Cet événement n'est plus en attente d'une décision (déjà réessayé ou écarté).")
    return event


def retry_dead_letter(session: Session, event_row_id: int, *, actor: User | None = None) -> WebhookEvent:
    """Apply the event again from the start (after a fix, say)."""
    event = _dead_letter(session, event_row_id)
    if "_unstorable_body" in (event.payload or {}):
        raise UserError("Cet événement n'a pas pu être enregistré tel quel : il ne peut pas être réessayé, "
                        "seulement écarté.")
    audit.record(session, "inbound_event_retried", actor=actor, target_type="webhook_event", target_id=event.id,
                 details={"event_id": event.event_id, "event_type": event.event_type, "error": event.error})
    event.dead_at = event.processed_at = None
    event.attempts = 0
    event.error = None
    return event


def discard_dead_letter(session: Session, event_row_id: int, *, actor: User | None = None) -> WebhookEvent:
    """Let the event go for good; it stays stored (a redelivery is still recognised) and audited."""
    event = _dead_letter(session, event_row_id)
    event.discarded_at = utcnow()
    audit.record(session, "inbound_event_discarded", actor=actor, target_type="webhook_event", target_id=event.id,
                 details={"event_id": event.event_id, "event_type": event.event_type, "error": event.error})
    return event
