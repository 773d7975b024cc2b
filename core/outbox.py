"""The outbox: messages the product sends outside campaigns, with the campaign ledger's guarantees.

An opt-out confirmation, a bot answer, a hand-over notice, an agent's reply or a template test send
is decided inside a transaction that may roll back and run again (an inbound batch replayed event by
event, say). So the decision only records the message here, in that transaction; a worker sends it
after commit (`workers.outbox.deliver`, asked for by a hook on the commit and by the scheduler):

- claimed with a lease (`sending`), its outcome recorded only by the lease's owner;
- a send whose outcome is unknown (a lost answer, a worker killed mid-request) is looked up in the
  person's message list at the provider before any new send, exactly like a campaign row;
- final within a bound: `sent`, or `failed` with a code (`expired` when the provider did not take it
  within `outbox_max_minutes`, `unverified` when it could neither confirm nor deny it within
  `sending_max_minutes`). A bot answer that fails hands the conversation to the agents.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import Session

from core import db, labels, ledger, metrics, queue, respondio
from core.config import get_settings
from core.ledger import Kind
from core.models import (
    ConsentStatus,
    Contact,
    Conversation,
    ConversationStatus,
    Message,
    OutboxMessage,
    OutboxStatus,
    User,
    table,
)
from core.timeutil import utcnow

log = logging.getLogger(__name__)
S = OutboxStatus
DELIVER_JOB = "workers.outbox.deliver"
DELIVER_FLAG = "outbox-delivery-requested"
ALONGSIDE_KEY = "outbox-deliverer"  # alive while a delivery runs alongside an inbound drain
EXPIRED = "expired"
OPTED_OUT = "opted_out"
ERASED = "erased"

# Purposes that are still sent to a person who has opted out since they were decided (the
# confirmation of that very opt-out).
SENT_AFTER_OPT_OUT = frozenset({"opt_out_confirmation"})


# --- recording (in the deciding transaction) ---------------------------------------------------


def add_text(session: Session, contact: Contact, body: str, *, purpose: str, author: str,
             conversation_id: int | None = None, actor: User | None = None) -> Message:
    """Record a free text for `contact` (and its line in the conversation, `pending`); sent after commit."""
    message = Message(conversation_id=conversation_id, contact_id=contact.id, direction="outbound", author=author,
                      agent_id=actor.id if actor else None, text=body, status=S.PENDING)
    _add(session, OutboxMessage(purpose=purpose, contact_id=contact.id, conversation_id=conversation_id,
                                message=message, actor_id=actor.id if actor else None, phone=contact.phone,
                                kind="text", text=body))
    return message


def add_template(session: Session, *, phone: str, name: str, language: str, components: list[dict[str, Any]],
                 body: str, purpose: str, contact: Contact | None = None, template_id: int | None = None,
                 conversation_id: int | None = None, actor: User | None = None,
                 thread: bool = True) -> OutboxMessage:
    """Record a template send; with `thread`, its line in the person's conversation too."""
    message = None
    if thread and contact is not None:
        message = Message(conversation_id=conversation_id, contact_id=contact.id, direction="outbound",
                          author="agent" if actor else "system", agent_id=actor.id if actor else None, text=body,
                          message_type="template", status=S.PENDING)
    return _add(session, OutboxMessage(
        purpose=purpose, contact_id=contact.id if contact else None, conversation_id=conversation_id,
        message=message, template_id=template_id, actor_id=actor.id if actor else None,
        phone=phone, kind="template", text=body,
        template={"name": name, "language": language, "components": components}))


def _add(session: Session, item: OutboxMessage) -> OutboxMessage:
    now = utcnow()
    item.created_at = item.updated_at = now
    session.add(item)
    session.flush()
    if not session.info.get("outbox_hook"):
        session.info["outbox_hook"] = True
        event.listen(session, "after_commit", _after_commit, once=True)
        event.listen(session, "after_rollback", _after_rollback, once=True)
    return item


def _after_commit(session: Session) -> None:
    session.info.pop("outbox_hook", None)
    if get_settings().outbox_deliver_after_commit:  # otherwise the scheduler's sweep asks, within a tick
        request_delivery()


def _after_rollback(session: Session) -> None:
    # Nothing recorded survived: the commit hook may stay (it asks for a delivery that finds nothing).
    session.info.pop("outbox_hook", None)


def request_delivery() -> bool:
    """Queue a delivery job unless one is already waiting. Never raises: if the queue is away, the
    scheduler's sweep asks again (what is recorded waits, it is not lost)."""
    try:
        if queue.alive(ALONGSIDE_KEY) or not queue.try_lock(DELIVER_FLAG, ttl=30.0):
            return False  # a delivery running alongside a drain, or a job waiting, will take it
        queue.enqueue(DELIVER_JOB, job_timeout=180)
        return True
    except Exception as err:  # noqa: BLE001 - the message is recorded; the sweep will ask for it
        log.warning("Outbox delivery not requested (%s): the scheduler will", type(err).__name__)
        return False


# --- claiming and recording outcomes (the worker) ------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    purpose: str
    phone: str
    kind: str
    text: str | None
    template: dict[str, Any] | None
    contact_id: int | None
    attempts: int
    sending_at: datetime


@functools.cache
def _claim_statement(pg: bool) -> Any:
    # One person's messages leave in the order they were decided: only the oldest still open goes.
    return ledger.lease_claim(
        "outbox", "NOT EXISTS (SELECT 1 FROM outbox AS earlier WHERE earlier.phone = outbox.phone "
        "AND earlier.id < outbox.id AND earlier.status IN ('pending', 'sending'))",
        "id, purpose, phone, kind, text, template, contact_id, attempts", pg)


def claim(session: Session, *, owner: str, limit: int, lease_seconds: float,
          now: datetime | None = None) -> list[Claimed]:
    now = now or utcnow()
    rows = session.execute(_claim_statement(session.get_bind().dialect.name == "postgresql"),
                           {"owner": owner, "lease": now + timedelta(seconds=lease_seconds), "now": now,
                            "limit": limit}).all()
    return sorted((Claimed(r.id, r.purpose, r.phone, r.kind, r.text, ledger.json_value(r.template), r.contact_id,
                           r.attempts, now) for r in rows), key=lambda c: c.id)


def refused_at_send(session: Session, items: list[Claimed]) -> dict[int, str]:
    """Claimed items that must not go out any more: the person opted out or was erased since."""
    ids = {i.contact_id for i in items if i.contact_id is not None}
    if not ids:
        return {}
    people = {row.id: row for row in session.execute(
        select(Contact.id, Contact.consent_status, Contact.erased_at).where(Contact.id.in_(ids)))}
    refused = {}
    for item in items:
        person = people.get(item.contact_id) if item.contact_id is not None else None
        if person is None:
            continue
        if person.erased_at is not None:
            refused[item.id] = ERASED
        elif person.consent_status == ConsentStatus.OPTED_OUT and item.purpose not in SENT_AFTER_OPT_OUT:
            refused[item.id] = OPTED_OUT
    return refused


@dataclass(frozen=True)
class Outcome:
    id: int
    kind: Kind  # never requeue: an outbox message pauses no campaign
    message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_at: datetime | None = None


def record(session: Session, outcomes: list[Outcome], *, owner: str, now: datetime | None = None) -> list[Outcome]:
    """Write what happened to claimed items; an item whose lease was taken over is left alone.
    Returns the outcomes written. Sends accepted (nearly all) are written in two statements for the
    batch; the rest one by one."""
    if not outcomes:
        return []
    now = now or utcnow()
    held = {row.id: row for row in session.execute(select(
        OutboxMessage.id, OutboxMessage.message_id, OutboxMessage.purpose, OutboxMessage.created_at).where(
        OutboxMessage.id.in_([o.id for o in outcomes]), OutboxMessage.status == S.SENDING,
        OutboxMessage.lease_owner == owner).with_for_update())}
    written = [o for o in outcomes if o.id in held]
    sent = [o for o in written if o.kind == Kind.SENT]
    if sent:
        items, threads = table(OutboxMessage), table(Message)  # Core statements, run as executemany
        session.execute(update(items).where(items.c.id == bindparam("b_id"), items.c.lease_owner == owner).values(
            status=S.SENT, provider_message_id=bindparam("b_mid"), sent_at=now, lease_owner=None,
            lease_expires_at=None, error_code=None, error_message=None, updated_at=now),
            [{"b_id": o.id, "b_mid": o.message_id} for o in sent])
        lines = [{"b_line": held[o.id].message_id, "b_mid": o.message_id} for o in sent if held[o.id].message_id]
        if lines:
            session.execute(update(threads).where(threads.c.id == bindparam("b_line")).values(
                status="sent", provider_message_id=bindparam("b_mid"), error_code=None), lines)
        for o in sent:
            metrics.OUTBOX.labels(held[o.id].purpose, "sent").inc()
            metrics.OUTBOX_SECONDS.observe(max(0.0, (now - held[o.id].created_at).total_seconds()))
    for outcome in written:
        if outcome.kind != Kind.SENT:
            _record_one(session, outcome, now)
    return written


def _record_one(session: Session, outcome: Outcome, now: datetime) -> None:
    item = session.get(OutboxMessage, outcome.id)
    assert item is not None
    item.updated_at = now
    code, reason = outcome.error_code, (outcome.error_message or "")[:500] or None
    if outcome.kind == Kind.FAILED:
        _failed(session, item, code or "failed", reason, now)
    elif outcome.kind in (Kind.RETRY, Kind.LATER, Kind.RELEASE):
        item.status, item.lease_owner, item.lease_expires_at = S.PENDING, None, None
        if outcome.kind != Kind.RETRY:  # a 429, or never tried: the attempt does not count
            item.attempts = max(0, item.attempts - 1)
        if outcome.kind != Kind.RELEASE:
            item.error_code, item.error_message, item.next_attempt_at = code, reason, outcome.retry_at
    elif outcome.kind == Kind.UNCERTAIN:  # looked up once the provider has had time to finish with it
        item.lease_owner = None
        item.lease_expires_at = now + timedelta(seconds=ledger.lookup_grace())
        item.error_code, item.error_message = code, reason
    else:
        raise ValueError(outcome.kind)


def _sent(session: Session, item: OutboxMessage, provider_message_id: str | None, at: datetime) -> None:
    item.status, item.provider_message_id, item.sent_at = S.SENT, provider_message_id, at
    item.lease_owner = item.lease_expires_at = None
    item.error_code = item.error_message = None
    if item.message_id is not None:
        message = session.get(Message, item.message_id)
        if message is not None:
            message.status, message.provider_message_id, message.error_code = "sent", provider_message_id, None
    metrics.OUTBOX.labels(item.purpose, "sent").inc()
    metrics.OUTBOX_SECONDS.observe(max(0.0, (at - item.created_at).total_seconds()))


def _failed(session: Session, item: OutboxMessage, code: str, reason: str | None, at: datetime) -> None:
    """A final failure: the thread shows it; a bot answer that did not reach the person hands the
    conversation to the agents (the question must not be left without an answer or a person)."""
    item.status, item.failed_at, item.error_code, item.error_message = S.FAILED, at, code[:32], reason
    item.lease_owner = item.lease_expires_at = None
    if item.message_id is not None:
        message = session.get(Message, item.message_id)
        if message is not None:
            message.status, message.error_code = "failed", code[:16]
    if item.purpose == "bot_answer" and item.conversation_id is not None and code not in (OPTED_OUT, ERASED):
        conversation = session.get(Conversation, item.conversation_id)
        if conversation is not None and conversation.status == ConversationStatus.BOT:
            conversation.status = ConversationStatus.WAITING_AGENT
            conversation.handoff_reason = "send_failed"
            conversation.handed_over_at = at
            conversation.handled_at = None
    metrics.OUTBOX.labels(item.purpose, "failed").inc()
    log.warning("Outbox message %s (%s) failed: %s %s", item.id, item.purpose, code, reason or "")


def renew(session: Session, *, owner: str, lease_seconds: float, now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.changed(session, update(OutboxMessage).where(
        OutboxMessage.status == S.SENDING, OutboxMessage.lease_owner == owner,
        OutboxMessage.lease_expires_at >= now).values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )


# --- liveness: the sweep (the scheduler) -------------------------------------------------------


@dataclass
class Swept:
    expired: int = 0
    checked: int = 0
    found: int = 0
    requeued: int = 0
    postponed: int = 0
    unverified: int = 0
    failed: int = 0
    requests: int = 0
    due: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def sweep(session: Session, provider: respondio.Provider, *, now: datetime | None = None, limit: int = 50,
          pacer: Any = None, ask: bool = True, deadline: float | None = None) -> Swept:
    """Every outbox item reaches a final state within a bound: pending ones the provider never took
    within `outbox_max_minutes` fail as `expired`; `sending` ones whose lease expired are looked up at
    the provider (one list request per person, under the reconciliation budget) and settled as the
    campaign rows are. Returns, in `due`, how many wait to be sent (the caller asks for a delivery)."""
    settings = get_settings()
    now = now or utcnow()
    result = Swept()
    for item in session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == S.PENDING,
            OutboxMessage.created_at <= now - timedelta(minutes=settings.outbox_max_minutes))
            .order_by(OutboxMessage.id).limit(500).with_for_update(skip_locked=True)):
        if not _still(session, item, S.PENDING, now):
            continue  # claimed by a worker meanwhile
        reason = (f"Respond.io n'a pas accepté ce message en {settings.outbox_max_minutes:g} min "
                  f"({item.error_message or item.error_code or 'sans réponse'})")
        _failed(session, item, EXPIRED, reason[:500], now)
        result.expired += 1
    bound = timedelta(minutes=settings.sending_max_minutes)
    rows = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == S.SENDING, OutboxMessage.lease_expires_at < now)
        .order_by(OutboxMessage.lease_expires_at, OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)))
    by_phone: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        by_phone.setdefault(row.phone, []).append(row)
    for phone, group in by_phone.items():
        looked: ledger.Lookup | None = None
        messages: list[respondio.SentMessage] = []
        can_ask = ask and (deadline is None or time.monotonic() < deadline)
        if can_ask:
            if pacer is not None:
                pacer.acquire()
            result.requests += 1
            messages, looked = ledger.look_up(provider, phone)
        taken = ledger.recorded(session, [m.message_id for m in messages])
        for row in sorted(group, key=lambda r: r.sending_at or now):
            result.checked += 1
            if not can_ask:
                verdict = ledger.Lookup(ledger.Verdict.WAIT)
            elif looked is not None:
                verdict = looked
            else:
                template = row.template or {}
                verdict = ledger.match(messages, since=row.sending_at or now,
                                         template=template.get("name") if row.kind == "template" else None,
                                         body=_body(template) if row.kind == "template" else None,
                                         text=row.text if row.kind == "text" else None, taken=frozenset(taken))
            if verdict.message is not None:
                taken.add(verdict.message.message_id)
            _settle(session, row, verdict, now=now, bound=bound, result=result)
        if looked is not None and looked.verdict is ledger.Verdict.WAIT:
            queue.heartbeat(ledger.LIST_BLOCK_KEY, ttl=min(max(looked.retry_after or 1.0, 0.1), 600.0))
            ask = False
    result.due = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == S.PENDING,
        (OutboxMessage.next_attempt_at.is_(None)) | (OutboxMessage.next_attempt_at <= now))) or 0
    if result.expired or result.checked:
        log.info("Outbox sweep: %s", result.as_dict())
    return result


def _body(template: dict[str, Any]) -> list[str] | None:
    for component in template.get("components") or []:
        if component.get("type") == "body":
            return [str(p.get("text")) for p in component.get("parameters") or []]
    return None


def _still(session: Session, item: OutboxMessage, status: str, now: datetime) -> bool:
    """Take the row for this transaction if it is still as read (pending, or sending with its lease
    expired): a worker may have claimed or recorded it between the read and now (SQLite does not lock
    what it reads). The guarded write holds it until commit on either database."""
    guard = (OutboxMessage.id == item.id) & (OutboxMessage.status == status)
    if status == S.SENDING:
        guard &= OutboxMessage.lease_expires_at < now
    taken = db.changed(session, update(OutboxMessage).where(guard).values(updated_at=now)
                       .execution_options(synchronize_session=False)) == 1
    if taken:
        session.refresh(item)
    return taken


def _settle(session: Session, row: OutboxMessage, lookup: ledger.Lookup, *, now: datetime, bound: timedelta,
            result: Swept) -> None:
    settings = get_settings()
    V = ledger.Verdict
    if not _still(session, row, S.SENDING, now):
        return  # its worker recorded it (or renewed its lease) meanwhile
    if lookup.verdict is V.SENT and lookup.message is not None:
        _sent(session, row, lookup.message.message_id, now)
        result.found += 1
        metrics.RECONCILED.labels("found").inc()
        return
    if lookup.verdict is V.NOT_SENT:
        if row.attempts >= settings.max_send_attempts:
            _failed(session, row, row.error_code or "not_accepted",
                    f"Non accepté par Respond.io après {row.attempts} essais ({row.error_message or ''})"[:500], now)
            result.failed += 1
            return
        row.status, row.lease_owner, row.lease_expires_at, row.reconcile_tries = S.PENDING, None, None, 0
        row.updated_at = now
        result.requeued += 1
        metrics.RECONCILED.labels("requeued").inc()
        return
    tries = row.reconcile_tries + (1 if lookup.verdict is V.LATER else 0)
    age = now - (row.sending_at or now)
    if tries >= settings.reconcile_max_tries or age >= bound:
        _failed(session, row, respondio.UNVERIFIED,
                (f"Respond.io n'a pu confirmer ni infirmer l'envoi après {tries} vérification(s) en "
                 f"{int(age.total_seconds() // 60)} min ({lookup.error or 'sans réponse'})")[:500], now)
        result.unverified += 1
        metrics.RECONCILED.labels("unverified").inc()
        return
    again = min(now + ledger.lookup_backoff(tries, ledger.lookup_grace()), (row.sending_at or now) + bound)
    if lookup.retry_after:
        again = max(again, now + timedelta(seconds=lookup.retry_after))
    row.lease_expires_at, row.reconcile_tries, row.updated_at = max(again, now + timedelta(seconds=1)), tries, now
    result.postponed += 1
    metrics.RECONCILED.labels("postponed").inc()


# --- what screens and the health check read ------------------------------------------------------


def get(session: Session, item_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, item_id)


def recent_tests(session: Session, template_id: int, limit: int = 10) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.template_id == template_id, OutboxMessage.purpose == "template_test")
        .order_by(OutboxMessage.id.desc()).limit(limit)))


def oldest_open(session: Session) -> datetime | None:
    """When the oldest message not yet sent nor failed was decided (Health screen, alert)."""
    return session.scalar(select(func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status.in_([S.PENDING, S.SENDING])))


def failed_since(session: Session, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == S.FAILED, OutboxMessage.failed_at >= since)) or 0


def describe(item: OutboxMessage) -> str:
    """The item's state as a person reads it."""
    label = labels.OUTBOX_STATUS.get(S(item.status), item.status)
    if item.status != S.FAILED:
        return label
    known = labels.WHATSAPP_ERROR.get(item.error_code or "")
    if known:
        return f"{label} : {known} ({respondio.code_label(item.error_code)})"
    detail = f" ({item.error_message})" if item.error_message else ""
    return f"{label} : {respondio.code_label(item.error_code)}{detail}"


def forget_contact(session: Session, contact_id: int, *, placeholder: str) -> None:
    """Erasure: the person's number and words leave the outbox; what was still to send is not sent."""
    now = utcnow()
    session.execute(update(OutboxMessage).where(
        OutboxMessage.contact_id == contact_id, OutboxMessage.status == S.PENDING).values(
        status=S.FAILED, failed_at=now, error_code=ERASED, error_message=None, updated_at=now))
    session.execute(update(OutboxMessage).where(OutboxMessage.contact_id == contact_id).values(
        phone=placeholder, text=None, template=None, updated_at=now))
