"""The campaign ledger (one row per recipient): claim rows with a lease, record outcomes, reconcile
uncertain sends. The sending itself is workers/dispatch.py.

A row is marked `sending` (committed) before its request goes out. Its outcome is recorded only by
the lease owner. A row found `sending` with an expired lease, or whose request may have reached the
provider without an answer, is first looked up at the provider and sent again only if the provider
has no trace of it. That is how a crash can neither skip a person nor message them twice.
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from core import campaigns, db, limits, metrics, policies, queue, ratelimit, respondio
from core.config import get_settings
from core.models import (
    Campaign,
    Contact,
    OutboxMessage,
    Recipient,
    RecipientStatus,
    StatusEvent,
    Template,
    UTCDateTime,
    table,
)
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


def lease_claim(table: str, condition: str, returning: str, pg: bool) -> Any:
    """The claim shared by the ledgers that send (campaign rows, the outbox): up to `:limit` pending
    rows of `table` due at `:now` and meeting `condition`, marked `sending` for `:owner` until
    `:lease`, one attempt more. PostgreSQL skips rows other workers hold; SQLite has one writer."""
    lock = "FOR UPDATE SKIP LOCKED" if pg else ""
    return text(
        f"UPDATE {table} SET status = 'sending', lease_owner = :owner, lease_expires_at = :lease, "
        "sending_at = :now, updated_at = :now, attempts = attempts + 1, reconcile_tries = 0 "
        f"WHERE id IN (SELECT id FROM {table} WHERE status = 'pending' AND {condition} "
        f"AND (next_attempt_at IS NULL OR next_attempt_at <= :now) ORDER BY id LIMIT :limit {lock}) "
        f"RETURNING {returning}"
    ).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("lease", type_=UTCDateTime()))


@functools.cache
def _claim_statement(pg: bool) -> Any:
    return lease_claim("recipients", "campaign_id = :cid", "id, contact_id, phone, parameters, attempts", pg)


def claim(session: Session, campaign_id: int, *, owner: str, limit: int, lease_seconds: float,
          now: datetime | None = None) -> list[Claimed]:
    """Take up to `limit` pending rows for this worker. PostgreSQL skips rows other workers hold;
    SQLite has one writer at a time, which makes the same statement just as safe."""
    now = now or utcnow()
    limit = limits.allowance(session, campaign_id, limit, now=now)  # messaging limit, spending cap
    if limit <= 0:
        return []
    stmt = _claim_statement(session.get_bind().dialect.name == "postgresql")
    rows = session.execute(stmt, {"owner": owner, "lease": now + timedelta(seconds=lease_seconds), "now": now,
                                  "cid": campaign_id, "limit": limit}).all()
    gone = _no_longer_reachable(session, campaign_id, [row.contact_id for row in rows])
    if gone:
        session.execute(update(Recipient).where(Recipient.id.in_([r.id for r in rows if r.contact_id in gone]))
                        .values(status=R.SKIPPED, lease_owner=None, lease_expires_at=None, next_attempt_at=None,
                                updated_at=now, skip_reason=case(
                                    *[(Recipient.contact_id.in_([c for c, why in gone.items() if why == reason]),
                                       reason) for reason in set(gone.values())])))
    out = []
    for row in rows:
        if row.contact_id in gone:
            continue
        params = row.parameters
        if isinstance(params, str):  # SQLite gives JSON back as text through a raw statement
            params = json.loads(params)
        out.append(Claimed(row.id, row.contact_id, row.phone, params or {}, row.attempts, now))
    return sorted(out, key=lambda c: c.id)


def _no_longer_reachable(session: Session, campaign_id: int, contact_ids: list[int]) -> dict[int, str]:
    """Among the people just claimed, those a message may no longer reach since the launch froze the
    audience (opted out, erased, marked « pas sur WhatsApp », or refusing marketing for a marketing
    template), with the reason: their rows are skipped, never sent. One query by primary key per batch."""
    if not contact_ids:
        return {}
    campaign = session.get(Campaign, campaign_id)
    marketing = campaigns.is_marketing(session.get(Template, campaign.template_id) if campaign else None)
    reasons = [(Contact.erased_at.is_not(None), "erased"), (Contact.consent_status == "opted_out", "opted_out"),
               (Contact.not_on_whatsapp_at.is_not(None), "not_on_whatsapp")]
    if marketing:
        reasons.append((Contact.marketing_refused_at.is_not(None), "marketing_refused"))
    return dict(session.execute(select(Contact.id, case(*reasons)).where(
        Contact.id.in_(contact_ids), or_(*[condition for condition, _ in reasons]))).all())


class Kind(enum.StrEnum):
    """What became of one send; each kind is written by its own guarded UPDATE."""

    SENT = "sent"  # accepted by the provider, with its message id
    FAILED = "failed"  # refused for good (or out of attempts), with WhatsApp's code
    RETRY = "retry"  # not accepted this time: again later, one attempt spent
    LATER = "later"  # the provider asked us to wait (429): again then, no attempt spent
    REQUEUE = "requeue"  # nobody's fault among the recipients (template, quality, token): the campaign pauses
    RELEASE = "release"  # claimed but never tried (the dispatcher stopped): back as it was
    UNCERTAIN = "uncertain"  # the answer was lost: looked up at the provider before any new send


@dataclass(frozen=True)
class Outcome:
    id: int
    kind: Kind
    message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_at: datetime | None = None


@functools.cache
def _outcome_statements() -> dict[str, Any]:
    """One UPDATE per kind of outcome, each guarded by the lease; built once (building them on every
    batch cost more than running them), like the claim."""
    ts = UTCDateTime()
    recipients = table(Recipient)
    guard = ((recipients.c.id == bindparam("b_id")) & (recipients.c.status == R.SENDING)
             & (recipients.c.lease_owner == bindparam("b_owner")))
    cleared = {"lease_owner": None, "lease_expires_at": None, "updated_at": bindparam("b_now", type_=ts)}
    return {
        Kind.SENT: update(recipients).where(guard).values(status=R.SENT, provider_message_id=bindparam("b_mid"),
                                                  sent_at=bindparam("b_now", type_=ts), error_code=None,
                                                  error_message=None, **cleared),
        Kind.FAILED: update(recipients).where(guard).values(status=R.FAILED, error_code=bindparam("b_code"),
                                                    error_message=bindparam("b_msg"),
                                                    failed_at=bindparam("b_now", type_=ts), **cleared),
        Kind.RETRY: update(recipients).where(guard).values(status=R.PENDING, error_code=bindparam("b_code"),
                                                   error_message=bindparam("b_msg"),
                                                   next_attempt_at=bindparam("b_retry", type_=ts), **cleared),
        # The provider asked us to wait (429): tried again then, and the attempt does not count.
        Kind.LATER: update(recipients).where(guard).values(status=R.PENDING, attempts=recipients.c.attempts - 1,
                                                   error_code=bindparam("b_code"), error_message=bindparam("b_msg"),
                                                   next_attempt_at=bindparam("b_retry", type_=ts), **cleared),
        # Not the recipient's fault (the campaign pauses): the attempt does not count.
        Kind.REQUEUE: update(recipients).where(guard).values(status=R.PENDING, attempts=recipients.c.attempts - 1,
                                                          **cleared),
        # Claimed but never tried (the dispatcher stopped): back to pending as it was.
        Kind.RELEASE: update(recipients).where(guard).values(status=R.PENDING, attempts=recipients.c.attempts - 1,
                                                          **cleared),
        # The provider may have it: the row stays `sending`, without an owner, for reconciliation once
        # the provider has had time to finish what it may still be doing with the request.
        Kind.UNCERTAIN: update(recipients).where(guard).values(lease_owner=None,
                                                       lease_expires_at=bindparam("b_retry", type_=ts),
                                                       error_code=bindparam("b_code"), error_message=bindparam("b_msg"),
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
    if not pg or any(o.kind != Kind.SENT for o in outcomes):
        # Only the rows this owner still holds (locked until commit): no event for a row taken over.
        # (The hot path, all sent on PostgreSQL, does the same in its one statement.)
        held = set(session.scalars(select(Recipient.id).where(
            Recipient.id.in_([o.id for o in outcomes]), Recipient.status == R.SENDING,
            Recipient.lease_owner == owner).with_for_update()))
        outcomes = [o for o in outcomes if o.id in held]
    groups: dict[str, list[dict[str, Any]]] = {}
    # An answer lost in transit: the provider is given time to finish before the row is looked up.
    look_from = now + timedelta(seconds=lookup_grace())
    for o in outcomes:
        retry_at = o.retry_at or (look_from if o.kind == Kind.UNCERTAIN else None)
        groups.setdefault(o.kind, []).append({"b_id": o.id, "b_mid": o.message_id, "b_code": o.error_code,
                                              "b_msg": (o.error_message or "")[:500] or None, "b_retry": retry_at})
    statements = _outcome_statements()
    for kind, params in groups.items():
        if kind == Kind.SENT and pg:  # the hot path: one statement for the batch, its events included
            done += db.changed(session, statements["sent_pg"], {"now": now, "owner": owner,
                                                                "ids": [p["b_id"] for p in params],
                                                                "mids": [p["b_mid"] for p in params]})
            continue
        for p in params:
            p["b_now"] = now
            p["b_owner"] = owner
        done += db.changed(session, statements[kind], params)
    events = [{"recipient_id": o.id, "provider_message_id": o.message_id, "status": o.kind, "error_code": o.error_code,
               "error_message": (o.error_message or "")[:500] or None, "source": "provider", "occurred_at": now,
               "received_at": now} for o in outcomes if o.kind == Kind.FAILED or (o.kind == Kind.SENT and not pg)]
    if events:
        session.execute(table(StatusEvent).insert(), events)
        policies.on_failures(session, [(o.id, o.error_code) for o in outcomes if o.kind == Kind.FAILED], now=now)
    return done


# --- reconciliation: what became of a send whose answer we never got -----------------------------


class Verdict(enum.StrEnum):
    SENT = "sent"  # the provider has it: recorded as sent, with its message id, never sent again
    NOT_SENT = "not_sent"  # the provider has no trace of it: pending again, sent anew
    LATER = "later"  # nothing learned: asked again later; counts as a try
    WAIT = "wait"  # the provider asks us to slow down: wait as told; no try counted
    AUTH = "auth"  # the token is refused: the campaign pauses, a person must fix it


@dataclass(frozen=True)
class Lookup:
    verdict: Verdict
    message: respondio.SentMessage | None = None
    retry_after: float | None = None
    error: str | None = None


LIST_LIMIT = 50  # messages asked for in one lookup (Respond.io allows 1..100)


def verdict_of_error(err: respondio.ProviderError) -> Verdict:
    """The reconciliation table for a lookup the provider did not answer with a list:

    | provider's answer to the message list           | verdict  | what follows                              |
    |-------------------------------------------------|----------|-------------------------------------------|
    | 404 Contact not found                           | NOT_SENT | the workspace never saw the person, so    |
    |                                                 |          | nothing was accepted: pending again       |
    | 401 / 403                                       | AUTH     | the campaign pauses with a French reason  |
    | 429 / 449                                       | WAIT     | wait `Retry-After`; the try does not count|
    | 5xx, timeout, network, any other answer         | LATER    | ask again later; the try counts           |
    """
    if err.contact_unknown:
        return Verdict.NOT_SENT
    if err.kind == "auth":
        return Verdict.AUTH
    if err.status in (429, respondio.QUEUED):
        return Verdict.WAIT
    return Verdict.LATER


def match(messages: list[respondio.SentMessage], *, since: datetime, template: str | None,
          body: list[str] | None = None, taken: frozenset[str] = frozenset(), text: str | None = None) -> Lookup:
    """The reconciliation table for a list the provider did answer: the message we may have sent is
    one we sent (outgoing, a template when the provider says what it is), accepted after we claimed the
    row (less the clock skew we tolerate), of the same template, with the same body parameters when the
    provider shows them, and not recorded for another row (for a free `text`: a text message with the
    same words, when the provider shows them). A match → SENT; a list that reaches back past
    the claim without one → NOT_SENT; a full page of newer messages, or messages without a time,
    without one → LATER (what we look for might be among them)."""
    floor = (since - RECONCILE_SKEW).timestamp()
    reaches_back = len(messages) < LIST_LIMIT  # the whole history is on this page...
    timeless = False  # ...unless a message without a time might be ours
    for message in messages:
        if not message.message_id or message.message_id == "None":
            continue  # nothing to record it by
        if message.timestamp is None:
            timeless = timeless or message.outgoing
            continue
        if message.timestamp < floor:
            reaches_back = True  # the page reaches back past the claim
            continue
        if not message.outgoing or message.message_id in taken:
            continue
        if text is not None:
            if message.template is not None or message.kind not in (None, "", "text"):
                continue  # a template, an attachment...: not the text we may have sent
            if message.text is not None and message.text.strip() != text.strip():
                continue
            return Lookup(Verdict.SENT, message)
        if template and (message.template or "") != template and \
                (message.template is not None or message.kind not in (None, "", "whatsapp_template")):
            continue  # another template, or a message of another kind (an agent's text, say)
        if body is not None and message.body is not None and tuple(str(v) for v in body) != message.body:
            continue
        return Lookup(Verdict.SENT, message)
    return Lookup(Verdict.NOT_SENT if reaches_back and not timeless else Verdict.LATER)


def look_up(provider: respondio.Provider, phone: str) -> tuple[list[respondio.SentMessage], Lookup | None]:
    """The person's recent messages at the provider, or the verdict its refusal gives."""
    try:
        return provider.recent_messages(phone, limit=LIST_LIMIT), None
    except respondio.ProviderError as err:
        return [], Lookup(verdict_of_error(err), retry_after=err.retry_after, error=str(err))
    except Exception as err:  # noqa: BLE001 - whatever else went wrong teaches nothing: ask again later
        log.warning("Lookup of a send failed unexpectedly: %s", type(err).__name__)
        return [], Lookup(Verdict.LATER, error=type(err).__name__)


def find_at_provider(provider: respondio.Provider, phone: str, since: datetime,
                     template: str | None) -> respondio.SentMessage | None:
    """The provider's trace of a message we may have sent, or None (an error is raised as it came)."""
    found = match(provider.recent_messages(phone, limit=LIST_LIMIT), since=since, template=template)
    return found.message


@dataclass
class Reconciled:
    checked: int = 0
    found: int = 0
    requeued: int = 0
    postponed: int = 0
    unverified: int = 0
    failed: int = 0  # not accepted after every attempt
    requests: int = 0
    paused: list[int] = field(default_factory=list)  # campaigns paused because the token is refused
    waited: float | None = None  # the provider asked to wait this long

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "found": self.found, "requeued": self.requeued, "postponed": self.postponed,
                "unverified": self.unverified, "failed": self.failed, "requests": self.requests}


def lookup_backoff(tries: int, grace: float) -> timedelta:
    return timedelta(seconds=min(300.0, grace * 2 ** max(0, tries - 1)))


def lookup_grace() -> float:
    """How long after an answer was lost the provider is left to finish with the request before we
    look: twice the request timeout (a request it still processes then would be sent twice)."""
    return max(1.0, 2 * get_settings().respondio_timeout_seconds)


AUTH_REASON = ("Respond.io refuse le jeton d'accès ({status}) : vérifiez RESPONDIO_API_TOKEN, puis reprenez la "
               "campagne. Les envois dont l'issue est inconnue seront vérifiés dès que le jeton sera accepté.")
LIST_BLOCK_KEY = "blocked:list"  # set while the provider asks us to stop asking for lists
ROWS = (Recipient.id, Recipient.phone, Recipient.sending_at, Recipient.campaign_id, Recipient.parameters,
        Recipient.reconcile_tries, Recipient.attempts, Recipient.error_code, Recipient.error_message)


def reconcile_expired(session: Session, provider: respondio.Provider, *, now: datetime | None = None,
                      limit: int = 200, pacer: ratelimit.Pacer | None = None, ask: bool = True,
                      deadline: float | None = None) -> Reconciled:
    """Rows left `sending` by a crash or an unanswered request, looked up at the provider under the
    reconciliation budget (`pacer`), one list request per person: sent if the provider has them,
    pending again if it has no trace, otherwise asked again later, and failed as `unverified` after
    `reconcile_max_tries` lookups that taught nothing or `sending_max_minutes` in `sending`. Whatever
    the provider answers, every row reaches a final state within that bound, but for a refused token
    (the campaign is paused with that reason: nothing can be learned until a person fixes it).
    `ask=False` (the provider asked us to wait): only the bound is applied."""
    settings = get_settings()
    now = now or utcnow()
    bound = timedelta(minutes=settings.sending_max_minutes)
    result = Reconciled()
    _fail_past_the_bound(session, now=now, bound=bound, result=result)  # whatever the provider does
    rows = session.execute(
        select(*ROWS, Template.name)
        .join(Campaign, Campaign.id == Recipient.campaign_id).join(Template, Template.id == Campaign.template_id)
        .where(Recipient.status == R.SENDING, Recipient.lease_expires_at < now)
        .order_by(Recipient.lease_expires_at, Recipient.id).limit(limit)).all()
    by_phone: dict[str, list[Any]] = {}
    for row in rows:
        by_phone.setdefault(row.phone, []).append(row)
    for phone, group in by_phone.items():
        if not ask or (deadline is not None and time.monotonic() > deadline):
            break  # told to wait, or out of time: the rest at the next tick (the bound holds meanwhile)
        if pacer is not None:
            pacer.acquire()
        result.requests += 1
        messages, refusal = look_up(provider, phone)
        taken = recorded(session, [m.message_id for m in messages])  # already some other row's
        for row in sorted(group, key=lambda r: r.sending_at or now):
            result.checked += 1
            verdict = refusal or match(messages, since=row.sending_at or now, template=row.name,
                                       body=(json_value(row.parameters) or {}).get("body"), taken=frozenset(taken))
            if verdict.message is not None:
                taken.add(verdict.message.message_id)
            _settle(session, row, verdict, now=now, bound=bound, result=result)
        if refusal is not None and refusal.verdict is Verdict.WAIT:
            result.waited = min(max(refusal.retry_after or 1.0, 0.1), 600.0)
            queue.heartbeat(LIST_BLOCK_KEY, ttl=result.waited)  # the next ticks do not ask until then
            ask = False
        elif refusal is not None and refusal.verdict is Verdict.AUTH:
            _pause_for_auth(session, {r.campaign_id for r in rows}, refusal.error or "", result)
            return result  # nothing more can be learned, about any row
    if rows:
        log.info("Reconciled %d sends of unknown outcome with %d request(s): %d found at the provider, %d to send "
                 "again, %d asked again later, %d unverified, %d failed", result.checked, result.requests,
                 result.found, result.requeued, result.postponed, result.unverified, result.failed)
    return result


def _fail_past_the_bound(session: Session, *, now: datetime, bound: timedelta, result: Reconciled) -> None:
    """Every row in `sending` for longer than the bound, its lease expired, is failed as `unverified`
    in one pass, without asking the provider (which may be slow, or answer nothing). Rows of a campaign
    paused because the token is refused wait for it: they will be verified once it is accepted."""
    auth_paused = select(Campaign.id).where(Campaign.status == "paused",
                                            Campaign.status_reason.like(AUTH_REASON[:30] + "%"))
    ids = list(session.scalars(select(Recipient.id).where(
        Recipient.status == R.SENDING, Recipient.lease_expires_at < now, Recipient.sending_at <= now - bound,
        Recipient.campaign_id.not_in(auth_paused)).limit(5000)))
    if not ids:
        return
    reason = f"Respond.io n'a pu confirmer ni infirmer l'envoi en {int(bound.total_seconds() // 60)} min"
    guard = Recipient.id.in_(ids) & (Recipient.status == R.SENDING) & (Recipient.lease_expires_at < now)
    done = session.execute(update(Recipient).where(guard).values(
        status=R.FAILED, error_code=respondio.UNVERIFIED, error_message=reason, failed_at=now, lease_owner=None,
        lease_expires_at=None, updated_at=now).returning(Recipient.id)).scalars().all()
    if done:
        session.execute(table(StatusEvent).insert(), [
            {"recipient_id": i, "status": "failed", "error_code": respondio.UNVERIFIED, "error_message": reason,
             "source": "reconcile", "occurred_at": now, "received_at": now} for i in done])
        result.unverified += len(done)
        metrics.RECONCILED.labels("unverified").inc(len(done))
        log.warning("%d sends failed as unverified: %s", len(done), reason)


def list_blocked() -> bool:
    """True while the provider's last 429/449 on the message list asks us to wait."""
    return queue.alive(LIST_BLOCK_KEY)


def recorded(session: Session, message_ids: list[str]) -> set[str]:
    """Provider message ids already recorded for something we sent (a campaign row or an outbox
    message): a lookup never takes one of them for the send it looks for."""
    ids = [m for m in message_ids if m and m != "None"]
    if not ids:
        return set()
    found = set(session.scalars(select(Recipient.provider_message_id).where(
        Recipient.provider_message_id.in_(ids)))) | set(session.scalars(
            select(OutboxMessage.provider_message_id).where(OutboxMessage.provider_message_id.in_(ids))))
    return {m for m in found if m is not None}


def json_value(value: Any) -> Any:
    if isinstance(value, str):  # SQLite gives JSON back as text through some statements
        return json.loads(value)
    return value


def _settle(session: Session, row: Any, lookup: Lookup, *, now: datetime, bound: timedelta, result: Reconciled,
            count_try: bool = True) -> None:
    settings = get_settings()
    guard = (Recipient.id == row.id) & (Recipient.status == R.SENDING) & (Recipient.lease_expires_at < now)
    ids = {"campaign_id": row.campaign_id, "recipient_id": row.id}
    if lookup.verdict is Verdict.SENT and lookup.message is not None:
        message = lookup.message
        sent_at = datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else now
        if db.changed(session, update(Recipient).where(guard).values(
                status=R.SENT, provider_message_id=message.message_id, sent_at=sent_at, lease_owner=None,
                lease_expires_at=None, reconcile_tries=0, error_code=None, error_message=None,
                updated_at=now)):
            session.add(StatusEvent(recipient_id=row.id, provider_message_id=message.message_id, status="sent",
                                    source="reconcile", occurred_at=sent_at))
            result.found += 1
            metrics.RECONCILED.labels("found").inc()
        return
    if lookup.verdict is Verdict.NOT_SENT:
        if row.attempts >= settings.max_send_attempts:  # never accepted, however often it was tried
            code = row.error_code or "not_accepted"
            reason = (f"Non accepté par Respond.io après {row.attempts} essais ({row.error_message or code})")[:500]
            if db.changed(session, update(Recipient).where(guard).values(
                    status=R.FAILED, error_code=code, error_message=reason, failed_at=now, lease_owner=None,
                    lease_expires_at=None, reconcile_tries=0, updated_at=now)):
                session.add(StatusEvent(recipient_id=row.id, status="failed", error_code=code, error_message=reason,
                                        source="reconcile", occurred_at=now))
                result.failed += 1
                metrics.RECONCILED.labels("failed").inc()
            return
        if db.changed(session, update(Recipient).where(guard).values(
                status=R.PENDING, lease_owner=None, lease_expires_at=None, reconcile_tries=0,
                updated_at=now)):  # (the lookup grace already spaced this attempt from the last)
            result.requeued += 1
            metrics.RECONCILED.labels("requeued").inc()
        return
    tries = row.reconcile_tries + (1 if count_try and lookup.verdict is Verdict.LATER else 0)
    age = now - (row.sending_at or now)
    if lookup.verdict is not Verdict.AUTH and (tries >= settings.reconcile_max_tries or age >= bound):
        reason = (f"Respond.io n'a pu confirmer ni infirmer l'envoi après {tries} vérification(s) "
                  f"en {int(age.total_seconds() // 60)} min ({lookup.error or 'sans réponse'})")[:500]
        if db.changed(session, update(Recipient).where(guard).values(
                status=R.FAILED, error_code=respondio.UNVERIFIED, error_message=reason, failed_at=now,
                lease_owner=None, lease_expires_at=None, reconcile_tries=tries, updated_at=now)):
            session.add(StatusEvent(recipient_id=row.id, status="failed", error_code=respondio.UNVERIFIED,
                                    error_message=reason, source="reconcile", occurred_at=now))
            result.unverified += 1
            metrics.RECONCILED.labels("unverified").inc()
            log.warning("Recipient %s failed as unverified: %s", row.id, reason, extra=ids)
        return
    # Asked again later, no later than the bound; no one renews this lease any more.
    again = min(now + lookup_backoff(tries, lookup_grace()), (row.sending_at or now) + bound)
    if lookup.verdict is Verdict.WAIT and lookup.retry_after:
        again = min(max(again, now + timedelta(seconds=lookup.retry_after)), (row.sending_at or now) + bound)
    session.execute(update(Recipient).where(guard).values(
        lease_owner=None, lease_expires_at=max(again, now + timedelta(seconds=1)), reconcile_tries=tries,
        updated_at=now))
    result.postponed += 1
    metrics.RECONCILED.labels("postponed").inc()


def _pause_for_auth(session: Session, campaign_ids: set[int], error: str, result: Reconciled) -> None:
    status = "401" if "401" in error else "403" if "403" in error else "401/403"
    for campaign_id in sorted(campaign_ids):
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status == "running":
            campaigns.pause(session, campaign, reason=AUTH_REASON.format(status=status))
            result.paused.append(campaign_id)
            log.error("Campaign %s paused: Respond.io refuses the token (%s)", campaign_id, status,
                      extra={"campaign_id": campaign_id})
    session.flush()


def renew(session: Session, *, owner: str, lease_seconds: float, now: datetime | None = None) -> int:
    """Extend the leases of the rows this dispatcher still holds: a live sender's rows are never
    taken for abandoned ones, however long they wait for a slot."""
    now = now or utcnow()
    return db.changed(session, update(Recipient).where(
        Recipient.status == R.SENDING, Recipient.lease_owner == owner, Recipient.lease_expires_at >= now).values(
        lease_expires_at=now + timedelta(seconds=lease_seconds)))


def contact_names(session: Session, contact_id: int) -> tuple[str | None, str | None]:
    row = session.execute(select(Contact.first_name, Contact.last_name).where(Contact.id == contact_id)).first()
    return (row.first_name, row.last_name) if row else (None, None)


def oldest_sending(session: Session) -> datetime | None:
    """When the send of the oldest row still `sending` began (the Health screen and its alert)."""
    return session.scalar(select(func.min(Recipient.sending_at)).where(Recipient.status == R.SENDING))
