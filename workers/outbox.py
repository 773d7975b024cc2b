"""The outbox's delivery job: send what the product decided to say outside campaigns, after commit.

Asked for by the commit that records a message (and by the scheduler while messages wait). Several
jobs may run at once, on any number of machines: each claims its own items with a lease. Sends share
the provider's throughput with the campaigns (the same limiter keys)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta

from core import db, labels, outbox, queue, ratelimit, respondio
from core.config import get_settings
from core.ledger import Kind
from core.logs import mask_phone
from core.timeutil import utcnow
from workers.dispatch import _code, contact_fields, provider_pacer

log = logging.getLogger(__name__)
MAX_RUNTIME_SECONDS = 60.0
CONCURRENCY = 8  # requests in flight per job: a burst of bot answers is not sent one by one
LINGER_SECONDS = 0.5  # a job with nothing to do waits this long for more before it ends


def send_one(item: outbox.Claimed, provider: respondio.Provider, pacer: ratelimit.Pacer) -> outbox.Outcome:
    """One message, as a campaign row is sent: an answer that leaves the outcome open ends as
    `uncertain` (looked up before any resend); a contact the workspace never saw is created and the
    message sent again; a 429 or a refused token waits without spending an attempt; a refusal is final."""
    created = False
    while True:
        try:
            with pacer.slot():
                if item.kind == "template":
                    spec = item.template or {}
                    message_id = provider.send_template(item.phone, spec.get("name", ""), spec.get("language", ""),
                                                        spec.get("components") or [])
                else:
                    message_id = provider.send_text(item.phone, item.text or "")
            return outbox.Outcome(item.id, Kind.SENT, message_id=message_id)
        except respondio.ProviderError as err:
            error = err
        if error.maybe_sent:
            return outbox.Outcome(item.id, Kind.UNCERTAIN, error_code=_code(error), error_message=str(error))
        if error.contact_unknown and not created:
            created = True
            try:
                with pacer.slot():
                    provider.upsert_contact(item.phone, contact_fields(item.contact_id or 0, item.phone))
                continue
            except respondio.ProviderError as err:
                error = err
        return _not_accepted(item, error, pacer)


def _not_accepted(item: outbox.Claimed, error: respondio.ProviderError,
                  pacer: ratelimit.Pacer | None = None) -> outbox.Outcome:
    code, reason = _code(error), str(error)
    if (error.status == 429 or error.whatsapp_code == "130429") and pacer is not None:
        pacer.block(error.retry_after or 1.0)  # every sender of this provider waits, campaigns included
    if error.status == 429 or error.whatsapp_code == "130429" or error.kind == "auth":
        wait = error.retry_after or (60.0 if error.kind == "auth" else 1.0)  # a token fixed by a person
        return outbox.Outcome(item.id, Kind.LATER, error_code=code, error_message=reason,
                              retry_at=utcnow() + timedelta(seconds=wait))
    if (error.transient or error.contact_unknown) and item.attempts < get_settings().max_send_attempts:
        return outbox.Outcome(item.id, Kind.RETRY, error_code=code, error_message=reason,
                              retry_at=utcnow() + timedelta(seconds=min(120, 2 * 2 ** max(0, item.attempts - 1))))
    return outbox.Outcome(item.id, Kind.FAILED, error_code=code, error_message=reason)


def deliver(*, max_runtime: float = MAX_RUNTIME_SECONDS, linger: float = LINGER_SECONDS,
            until: threading.Event | None = None) -> dict[str, int]:
    """Send what waits in the outbox until nothing does (or time is up: another job continues).

    With `until`: alongside another job (the inbound drain) until that job sets it, then what is
    left. Meanwhile it says so in Redis, and commits anywhere do not queue delivery jobs that would
    take a worker from the drains; it stops saying so before its last pass, so that whatever is
    committed after that pass asks for a job again."""
    if until is None:
        queue.release(outbox.DELIVER_FLAG)  # what is recorded from now on asks for another job
    settings = get_settings()
    owner = f"outbox:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    pacer = provider_pacer(ratelimit.limiter())
    totals: dict[str, int] = {}
    started = time.monotonic()
    idle_since: float | None = None
    announced = 0.0
    with respondio.opened(max_retries=0) as provider:
        with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="outbox") as pool:
            while True:
                last_pass = until is not None and until.is_set()
                if last_pass:
                    queue.forget(outbox.ALONGSIDE_KEY)
                elif until is not None and time.monotonic() - announced > 0.5:
                    queue.heartbeat(outbox.ALONGSIDE_KEY, ttl=2.0)
                    announced = time.monotonic()
                elif until is None and time.monotonic() - started >= max_runtime:
                    outbox.request_delivery()  # time is up: another job continues
                    break
                with db.session_scope() as session:
                    items = outbox.claim(session, owner=owner, limit=CONCURRENCY,
                                         lease_seconds=settings.send_lease_seconds)
                    refused = outbox.refused_at_send(session, items)
                if not items:
                    if last_pass:
                        break
                    if until is not None:
                        until.wait(0.05)
                        continue
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= linger:
                        break
                    time.sleep(0.05)
                    continue
                idle_since = None
                outcomes = [outbox.Outcome(i.id, Kind.FAILED, error_code=refused[i.id],
                                           error_message=labels.WHATSAPP_ERROR.get(refused[i.id]))
                            for i in items if i.id in refused]
                outcomes += _send_all([i for i in items if i.id not in refused], pool, provider, pacer, owner,
                                      settings.send_lease_seconds)
                with db.session_scope() as session:
                    for outcome in outbox.record(session, outcomes, owner=owner):
                        totals[outcome.kind] = totals.get(outcome.kind, 0) + 1
    if totals:
        log.info("Outbox delivery: %s", totals)
    return totals


def _send_all(items: list[outbox.Claimed], pool: ThreadPoolExecutor, provider: respondio.Provider,
              pacer: ratelimit.Pacer, owner: str, lease_seconds: float) -> list[outbox.Outcome]:
    """Send the claimed items, renewing their leases every third of a lease while any is in flight
    (a wait for a slot after a 429, a slow provider): a live sender's items are never taken for
    abandoned ones, looked up and sent a second time."""
    futures = [pool.submit(_safe_send, item, provider, pacer) for item in items]
    while not wait(futures, timeout=lease_seconds / 3).done.issuperset(futures):
        try:
            with db.session_scope() as session:
                outbox.renew(session, owner=owner, lease_seconds=lease_seconds)
        except Exception as err:  # noqa: BLE001 - the database away: the leases run out, the sweep decides
            log.warning("Outbox leases not renewed (%s)", type(err).__name__)
    return [f.result() for f in futures]


def _safe_send(item: outbox.Claimed, provider: respondio.Provider, pacer: ratelimit.Pacer) -> outbox.Outcome:
    try:
        return send_one(item, provider, pacer)
    except Exception as err:  # noqa: BLE001 - a bug must not lose the item: it is looked up, as a lost answer
        log.exception("Outbox send to %s failed unexpectedly", mask_phone(item.phone))
        return outbox.Outcome(item.id, Kind.UNCERTAIN, error_code="network", error_message=type(err).__name__)
