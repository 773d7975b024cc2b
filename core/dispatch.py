"""The ledger side of sending: claim rows with a lease, record outcomes, reconcile uncertain sends.

A row is marked `sending` (committed) before its request goes out. Its outcome is recorded only by
the lease owner. A row found `sending` with an expired lease, or whose request may have reached the
provider without an answer, is first looked up at the provider and sent again only if the provider
has no trace of it. That is how a crash can neither skip a person nor message them twice.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from core import respondio
from core.models import Campaign, Recipient, RecipientStatus, StatusEvent, Template, UTCDateTime
from core.timeutil import utcnow

log = logging.getLogger(__name__)
R = RecipientStatus
RECONCILE_SKEW = timedelta(seconds=120)  # clock difference tolerated between us and the provider


@dataclass(frozen=True)
class Claimed:
    id: int
    contact_id: int
    phone: str
    parameters: dict[str, Any]
    attempts: int
    sending_at: datetime


@functools.cache
def _claim_statement(pg: bool) -> Any:
    lock = "FOR UPDATE SKIP LOCKED" if pg else ""
    return text(
        "UPDATE recipients SET status = 'sending', lease_owner = :owner, lease_expires_at = :lease, "
        "sending_at = :now, updated_at = :now, attempts = attempts + 1 "
        "WHERE id IN (SELECT id FROM recipients WHERE campaign_id = :cid AND status = 'pending' "
        f"AND (next_attempt_at IS NULL OR next_attempt_at <= :now) ORDER BY id LIMIT :limit {lock}) "
        "RETURNING id, contact_id, phone, parameters, attempts"
    ).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("lease", type_=UTCDateTime()))


def claim(session: Session, campaign_id: int, *, owner: str, limit: int, lease_seconds: float,
          now: datetime | None = None) -> list[Claimed]:
    """Take up to `limit` pending rows for this worker. PostgreSQL skips rows other workers hold;
    SQLite has one writer at a time, which makes the same statement just as safe."""
    now = now or utcnow()
    stmt = _claim_statement(session.get_bind().dialect.name == "postgresql")
    rows = session.execute(stmt, {"owner": owner, "lease": now + timedelta(seconds=lease_seconds), "now": now,
                                  "cid": campaign_id, "limit": limit}).all()
    out = []
    for row in rows:
        params = row.parameters
        if isinstance(params, str):  # SQLite gives JSON back as text through a raw statement
            import json

            params = json.loads(params)
        out.append(Claimed(row.id, row.contact_id, row.phone, params or {}, row.attempts, now))
    return sorted(out, key=lambda c: c.id)


@dataclass(frozen=True)
class Outcome:
    id: int
    kind: str  # sent | failed | retry | requeue | release | uncertain
    message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_at: datetime | None = None


@functools.cache
def _outcome_statements() -> dict[str, Any]:
    """One UPDATE per kind of outcome, each guarded by the lease; built once (building them on every
    batch cost more than running them), like the claim."""
    ts = UTCDateTime()
    table = Recipient.__table__
    guard = ((table.c.id == bindparam("b_id")) & (table.c.status == R.SENDING)
             & (table.c.lease_owner == bindparam("b_owner")))
    cleared = {"lease_owner": None, "lease_expires_at": None, "updated_at": bindparam("b_now", type_=ts)}
    return {
        "sent": update(table).where(guard).values(status=R.SENT, provider_message_id=bindparam("b_mid"),
                                                  sent_at=bindparam("b_now", type_=ts), error_code=None,
                                                  error_message=None, **cleared),
        "failed": update(table).where(guard).values(status=R.FAILED, error_code=bindparam("b_code"),
                                                    error_message=bindparam("b_msg"),
                                                    failed_at=bindparam("b_now", type_=ts), **cleared),
        "retry": update(table).where(guard).values(status=R.PENDING, error_code=bindparam("b_code"),
                                                   error_message=bindparam("b_msg"),
                                                   next_attempt_at=bindparam("b_retry", type_=ts), **cleared),
        # Not the recipient's fault (the campaign pauses): the attempt does not count.
        "requeue": update(table).where(guard).values(status=R.PENDING, attempts=table.c.attempts - 1, **cleared),
        # Claimed but never tried (the dispatcher stopped): back to pending as it was.
        "release": update(table).where(guard).values(status=R.PENDING, attempts=table.c.attempts - 1, **cleared),
        # The provider may have it: leave the row claimed with an expired lease for reconciliation.
        "uncertain": update(table).where(guard).values(lease_expires_at=bindparam("b_now", type_=ts),
                                                       updated_at=bindparam("b_now", type_=ts)),
        # PostgreSQL, all sent: one statement for the batch, its status events included.
        "sent_pg": text(
            "WITH sent AS (UPDATE recipients r SET status = 'sent', provider_message_id = v.mid, sent_at = :now, "
            "error_code = NULL, error_message = NULL, lease_owner = NULL, lease_expires_at = NULL, "
            "updated_at = :now FROM unnest(CAST(:ids AS bigint[]), CAST(:mids AS text[])) AS v(id, mid) "
            "WHERE r.id = v.id AND r.status = 'sending' AND r.lease_owner = :owner RETURNING r.id, v.mid) "
            "INSERT INTO status_events (recipient_id, provider_message_id, status, source, occurred_at, "
            "received_at) SELECT id, mid, 'sent', 'provider', :now, :now FROM sent"
        ).bindparams(bindparam("now", type_=ts)),
    }


def record(session: Session, outcomes: list[Outcome], *, owner: str, now: datetime | None = None) -> int:
    """Write what happened to each claimed row; a row whose lease was taken over is left alone."""
    if not outcomes:
        return 0
    now = now or utcnow()
    done = 0
    pg = session.get_bind().dialect.name == "postgresql"
    if not pg or any(o.kind != "sent" for o in outcomes):
        # Only the rows this owner still holds (locked until commit): no event for a row taken over.
        # (The hot path, all sent on PostgreSQL, does the same in its one statement.)
        held = set(session.scalars(select(Recipient.id).where(
            Recipient.id.in_([o.id for o in outcomes]), Recipient.status == R.SENDING,
            Recipient.lease_owner == owner).with_for_update()))
        outcomes = [o for o in outcomes if o.id in held]
    groups: dict[str, list[dict[str, Any]]] = {}
    for o in outcomes:
        groups.setdefault(o.kind, []).append({"b_id": o.id, "b_mid": o.message_id, "b_code": o.error_code,
                                              "b_msg": (o.error_message or "")[:500] or None, "b_retry": o.retry_at})
    statements = _outcome_statements()
    for kind, params in groups.items():
        if kind == "sent" and pg:  # the hot path: one statement for the batch, its events included
            result = session.execute(statements["sent_pg"], {"now": now, "owner": owner,
                                                             "ids": [p["b_id"] for p in params],
                                                             "mids": [p["b_mid"] for p in params]})
            done += result.rowcount if result.rowcount and result.rowcount > 0 else 0
            continue
        for p in params:
            p["b_now"] = now
            p["b_owner"] = owner
        result = session.execute(statements[kind], params)
        done += result.rowcount if result.rowcount and result.rowcount > 0 else 0
    events = [{"recipient_id": o.id, "provider_message_id": o.message_id, "status": o.kind, "error_code": o.error_code,
               "error_message": (o.error_message or "")[:500] or None, "source": "provider", "occurred_at": now,
               "received_at": now} for o in outcomes if o.kind == "failed" or (o.kind == "sent" and not pg)]
    if events:
        session.execute(StatusEvent.__table__.insert(), events)
    return done


def find_at_provider(provider: respondio.Provider, phone: str, since: datetime,
                     template: str | None) -> respondio.SentMessage | None:
    """The provider's trace of a message we may have sent: the same template, accepted after we
    claimed the row (less the clock skew we tolerate)."""
    floor = (since - RECONCILE_SKEW).timestamp()
    for message in provider.recent_messages(phone, limit=20):
        if message.timestamp is not None and message.timestamp < floor:
            continue
        if template and message.template and message.template != template:
            continue
        return message
    return None


def reconcile_expired(session: Session, provider: respondio.Provider, *, now: datetime | None = None,
                      limit: int = 200) -> dict[str, int]:
    """Rows left `sending` by a crash or an unanswered request: sent if the provider has them,
    otherwise pending again."""
    now = now or utcnow()
    rows = session.execute(
        select(Recipient.id, Recipient.phone, Recipient.sending_at, Recipient.campaign_id, Template.name)
        .join(Campaign, Campaign.id == Recipient.campaign_id).join(Template, Template.id == Campaign.template_id)
        .where(Recipient.status == R.SENDING, Recipient.lease_expires_at < now)
        .order_by(Recipient.lease_expires_at).limit(limit)).all()
    found = requeued = 0
    for row in rows:
        try:
            match = find_at_provider(provider, row.phone, row.sending_at or now, row.name)
        except respondio.ProviderError as err:
            log.warning("Reconciliation of recipient %s postponed: %s", row.id, err)
            continue
        guard = (Recipient.id == row.id) & (Recipient.status == R.SENDING) & (Recipient.lease_expires_at < now)
        if match is not None:
            changed = session.execute(update(Recipient).where(guard).values(
                status=R.SENT, provider_message_id=match.message_id, sent_at=now, lease_owner=None,
                lease_expires_at=None, updated_at=now)).rowcount
            if changed:
                session.add(StatusEvent(recipient_id=row.id, provider_message_id=match.message_id, status="sent",
                                        source="reconcile", occurred_at=now))
                found += 1
        else:
            requeued += session.execute(update(Recipient).where(guard).values(
                status=R.PENDING, lease_owner=None, lease_expires_at=None, updated_at=now)).rowcount
    if rows:
        log.info("Reconciled %d abandoned sends: %d found at the provider, %d to send again",
                 len(rows), found, requeued)
    return {"checked": len(rows), "found": found, "requeued": requeued}
