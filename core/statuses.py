"""Delivery statuses: applied forward only, each change kept as an event with its time.

pending < sent < delivered < read. `failed` is final unless a later delivered/read proves it wrong
(WhatsApp statuses arrive out of order). Statuses come from webhooks and from the poller below."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import ratelimit, respondio
from core.models import Recipient, RecipientStatus, StatusEvent
from core.timeutil import utcnow

log = logging.getLogger(__name__)
RANK = {"pending": 0, "sending": 0, "sent": 1, "delivered": 2, "read": 3}


def apply(session: Session, recipient: Recipient, status: str, *, at: datetime | None = None,
          error_code: str | None = None, error_message: str | None = None, source: str = "poll") -> bool:
    """Move a recipient forward; returns whether anything changed."""
    at = at or utcnow()
    current = recipient.status
    if status == "failed":
        if current in ("delivered", "read", "failed", "skipped"):
            return False
        recipient.status = RecipientStatus.FAILED
        recipient.failed_at = at
        recipient.error_code = error_code or recipient.error_code
        recipient.error_message = error_message
    elif status in ("sent", "delivered", "read"):
        if current == "skipped" or (current != "failed" and RANK[status] <= RANK.get(current, 0)):
            return False
        recipient.status = status
        if current == "failed":  # a later delivered/read proves the failure wrong
            recipient.error_code = None
            recipient.error_message = None
        if status in ("delivered", "read") and recipient.delivered_at is None:
            recipient.delivered_at = at
        if status == "read":
            recipient.read_at = at
        if recipient.sent_at is None:
            recipient.sent_at = at
    else:
        return False
    recipient.updated_at = utcnow()
    session.add(StatusEvent(recipient_id=recipient.id, provider_message_id=recipient.provider_message_id,
                            status=status, error_code=error_code, error_message=error_message, source=source,
                            occurred_at=at))
    return True


def poll(session: Session, provider: respondio.Provider, *, delay_seconds: float, limit: int = 200,
         max_age: timedelta = timedelta(days=7), now: datetime | None = None,
         pacer: ratelimit.Pacer | None = None) -> dict[str, int]:
    """Ask the provider about messages still without a final status after `delay_seconds`, one
    batch per call, each request under `pacer` (the status rate shared by every worker)."""
    now = now or utcnow()
    due = now - timedelta(seconds=delay_seconds)
    rows = session.scalars(
        select(Recipient).where(Recipient.status.in_([RecipientStatus.SENT, RecipientStatus.DELIVERED]),
                                Recipient.provider_message_id.is_not(None), Recipient.updated_at <= due,
                                Recipient.sent_at >= now - max_age)
        .order_by(Recipient.updated_at).limit(limit)).all()
    changed = errors = 0
    for recipient in rows:
        if pacer is not None:
            pacer.acquire()
        try:
            statuses = provider.message_status(recipient.phone, recipient.provider_message_id or "")
        except respondio.ProviderError as err:
            errors += 1
            if not err.transient:
                recipient.updated_at = now  # ask again later, not on every tick
            continue
        moved = False
        for status in statuses:
            at = datetime.fromtimestamp(status.timestamp, UTC) if status.timestamp else now
            moved |= apply(session, recipient, status.value, at=at, error_code=status.error_code,
                           error_message=status.error_message, source="poll")
        if not moved:
            recipient.updated_at = now
        changed += moved
    return {"polled": len(rows), "changed": changed, "errors": errors}
