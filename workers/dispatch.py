"""The dispatcher job: claim small batches of a running campaign, send them concurrently under the
shared rate limit, record every outcome. Several dispatchers (threads or RQ workers, on any number
of machines) can work on one campaign; each exits after a while and the scheduler starts new ones,
so pause, cancel and redeploys take effect quickly."""

from __future__ import annotations

import logging
import os
import queue as queue_mod
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core import campaigns, db, labels, ledger, metrics, queue, ratelimit, respondio, templates
from core.config import get_settings
from core.ledger import Kind
from core.models import CampaignStatus, Template
from core.timeutil import utcnow

log = logging.getLogger(__name__)
# The counts a dispatcher returns (and logs), in the order they are read.
COUNTED = (Kind.SENT, Kind.FAILED, Kind.RETRY, Kind.LATER, Kind.REQUEUE, Kind.UNCERTAIN, Kind.RELEASE)
MAX_RUNTIME_SECONDS = 120.0
LOCAL_TRIES = 3  # quick tries of one send before it goes back to the ledger
# A limit without a hard cap (the provider's above WhatsApp's tiers) is spaced a little under its
# rate. Under a hard cap, requests are spaced at the cap itself: the cap (ratelimit.Pacer.slot) is
# what makes sure the provider never sees more than that in a second.
RATE_SAFETY = 0.97
DISPATCH_JOB = "workers.dispatch.dispatch_campaign"
# Errors that are nobody's fault among the recipients: the row goes back untouched and the campaign
# pauses with the reason (a wrong template mapping, a quality hold, a token refused).
BLOCKING_KINDS = ("template", "quality", "auth")
RECORD_EVERY_SECONDS = 0.2  # outcomes are written in groups: a batch, or what came in this long
OUTCOME_POLL_SECONDS = 0.004  # the main loop looks for answers this often when none has come


@dataclass(frozen=True)
class Job:
    campaign_id: int
    template_name: str
    language: str
    template_data: dict[str, Any]
    rate: float
    owner: str


def dispatcher_key(campaign_id: int, slot: int) -> str:
    return f"dispatcher:{campaign_id}:{slot}"


def _mark_alive(key: str) -> None:
    queue.heartbeat(key, ttl=max(5.0, get_settings().scheduler_interval_seconds * 4))


def start(campaign_id: int, slot: int) -> None:
    """Queue a dispatcher for this slot, marked alive first so that no one queues it a second time."""
    _mark_alive(dispatcher_key(campaign_id, slot))
    queue.enqueue(DISPATCH_JOB, campaign_id, slot, job_timeout=600)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 5 * 2 ** max(0, attempts - 1)))


def pacer_for(job: Job, limiter: ratelimit.Limiter) -> ratelimit.Pacer:
    """The campaign's cap and the provider's throughput."""
    campaign = (f"campaign:{job.campaign_id}", job.rate) if job.rate < get_settings().max_send_rate else None
    return provider_pacer(limiter, campaign)  # otherwise the provider's limit is the campaign's


def provider_pacer(limiter: ratelimit.Limiter, campaign: tuple[str, float] | None = None) -> ratelimit.Pacer:
    """The provider's send throughput, shared by every sender (campaigns and the outbox), and a
    campaign's own cap, with hard caps at both (the provider's only at WhatsApp's tiers, up to
    1,000/s: above, spacing a little under it is the only limit)."""
    settings = get_settings()
    rates = [("provider", settings.max_send_rate, settings.max_send_rate <= 1000)]  # (key, rate, hard cap)
    if campaign is not None:
        rates.append((campaign[0], campaign[1], True))
    caps = [(key, max(1, int(rate))) for key, rate, hard in rates if hard]
    limits = [(key, rate if hard else rate * RATE_SAFETY) for key, rate, hard in rates]
    return ratelimit.Pacer(limiter, limits, caps, hold=settings.respondio_timeout_seconds + 5)


def send_one(job: Job, row: ledger.Claimed, provider: respondio.Provider, pacer: ratelimit.Pacer,
             stopping: threading.Event | None = None) -> ledger.Outcome:
    """One recipient's send, with a few quick tries on answers that say it was not accepted. An answer
    that leaves the outcome open (a 5xx, a timeout, a 449) ends the attempt as `uncertain`: the row is
    looked up at the provider by the reconciliation, under its own budget, before any new send."""
    components = templates.provider_components(job.template_data, row.parameters)
    error: respondio.ProviderError | None = None
    created = False
    tries = 0
    while tries < LOCAL_TRIES:
        tries += 1
        try:
            with pacer.slot(cancel=stopping):  # paused or cancelled while waiting: the row goes back
                message_id = provider.send_template(row.phone, job.template_name, job.language, components)
            return ledger.Outcome(row.id, Kind.SENT, message_id=message_id)
        except ratelimit.Cancelled:
            if error is None:
                return ledger.Outcome(row.id, Kind.RELEASE)
            break  # an earlier try failed: recorded below as that failure
        except respondio.ProviderError as err:
            error = err
        if error.maybe_sent:  # the request may have arrived: never resend before the provider says
            return ledger.Outcome(row.id, Kind.UNCERTAIN, error_code=_code(error), error_message=str(error))
        if error.contact_unknown:
            if created:  # created, yet still unknown to the send: later, within the person's attempts
                return _not_accepted(row, error)
            # Respond.io refuses a phone its workspace has never seen: nothing was accepted. Create the
            # contact (one request, under the same budget) and send again: the creation is not a try.
            created = True
            refused = _create_contact(row, provider, pacer, stopping)
            if refused is not None:
                return refused
            tries -= 1
            continue
        if not error.transient or error.kind in BLOCKING_KINDS:
            break
        metrics.PROVIDER_RETRIES.labels("429" if error.status == 429 else "5xx" if (error.status or 0) >= 500
                                        else "whatsapp" if error.whatsapp_code else "network").inc()
        if error.status == 429 or error.whatsapp_code == "130429":
            pacer.block(error.retry_after or 1.0)
        else:
            time.sleep(min(2.0, 0.2 * (tries + row.attempts)))
    assert error is not None
    if error.kind in BLOCKING_KINDS:
        return ledger.Outcome(row.id, Kind.REQUEUE, error_code=_code(error), error_message=str(error))
    if error.transient or error.contact_unknown:
        return _not_accepted(row, error)
    return ledger.Outcome(row.id, Kind.FAILED, error_code=_code(error), error_message=str(error))


def _not_accepted(row: ledger.Claimed, error: respondio.ProviderError) -> ledger.Outcome:
    """Not accepted this time: a 429 waits as told without spending the person's attempts; anything
    else is tried again later while attempts remain, then fails with its code."""
    if error.status == 429:
        return ledger.Outcome(row.id, Kind.LATER, error_code=_code(error), error_message=str(error),
                                retry_at=utcnow() + timedelta(seconds=error.retry_after or 1.0))
    if row.attempts < get_settings().max_send_attempts:
        return ledger.Outcome(row.id, Kind.RETRY, error_code=_code(error), error_message=str(error),
                                retry_at=utcnow() + _backoff(row.attempts))
    return ledger.Outcome(row.id, Kind.FAILED, error_code=_code(error), error_message=str(error))


def _create_contact(row: ledger.Claimed, provider: respondio.Provider, pacer: ratelimit.Pacer,
                    stopping: threading.Event | None) -> ledger.Outcome | None:
    """The contact created at Respond.io; None when done, else the row's outcome (not sent)."""
    try:
        with pacer.slot(cancel=stopping):
            provider.upsert_contact(row.phone, contact_fields(row.contact_id, row.phone))
        return None
    except ratelimit.Cancelled:
        return ledger.Outcome(row.id, Kind.RELEASE)
    except respondio.ProviderError as err:  # not created: the row is tried again later, as sent
        if err.kind in BLOCKING_KINDS:
            return ledger.Outcome(row.id, Kind.REQUEUE, error_code=_code(err), error_message=str(err))
        return _not_accepted(row, err)


def _code(error: respondio.ProviderError) -> str:
    return error.whatsapp_code or (f"http_{error.status}" if error.status else "network")


def contact_fields(contact_id: int, phone: str) -> dict[str, Any]:
    """What Respond.io needs to create the contact (its first name is required)."""
    with db.session_scope() as session:
        first, last = ledger.contact_names(session, contact_id)
    if not first:  # Respond.io requires a first name: the last name stands in for it, alone
        first, last = last, None
    return {"firstName": first or "Assuré CNSS", "lastName": last or "", "phone": phone}


def pause_reason(blocking: ledger.Outcome) -> str:
    code = blocking.error_code or ""
    if code in ("http_401", "http_403"):
        return ledger.AUTH_REASON.format(status=code[5:])
    label = labels.WHATSAPP_ERROR.get(code, blocking.error_message or "")
    return f"Erreur WhatsApp {code} : {label}"


def _load_job(campaign_id: int, owner: str) -> Job | None:
    with db.session_scope() as session:
        campaign = campaigns.get(session, campaign_id)
        if campaign.status != CampaignStatus.RUNNING or campaigns.in_quiet_hours(campaign):
            return None
        template = session.get(Template, campaign.template_id)
        assert template is not None
        return Job(campaign_id, template.name, template.language, templates.as_dict(template),
                   campaigns.effective_rate(campaign), owner)


def _pause(campaign_id: int, reason: str) -> None:
    with db.session_scope() as session:
        campaign = campaigns.get(session, campaign_id)
        if campaign.status == CampaignStatus.RUNNING:
            campaigns.pause(session, campaign, reason=reason)
            log.warning("Campaign %s paused: %s", campaign_id, reason, extra={"campaign_id": campaign_id})


def _continue(campaign_id: int, slot: int) -> bool:
    """Time is up but the campaign still runs: the next dispatcher for this slot is queued now rather
    than at the scheduler's next tick (the slot stays marked alive meanwhile, so it is queued once)."""
    try:
        if _load_job(campaign_id, "continuation") is None:
            return False
        start(campaign_id, slot)
        return True
    except Exception:  # the scheduler starts one at its next tick
        log.exception("Next dispatcher for campaign %s could not be queued", campaign_id,
                      extra={"campaign_id": campaign_id})
        return False


def dispatch_campaign(campaign_id: int, slot: int = 0, *, max_runtime: float = MAX_RUNTIME_SECONDS) -> dict[str, int]:
    """Send a running campaign until it is done, paused, cancelled, in quiet hours, or time is up
    (the job RQ runs; see `Dispatcher`)."""
    return Dispatcher(campaign_id, slot, max_runtime=max_runtime).run()


class Dispatcher:
    """One dispatcher of one campaign slot.

    Claiming, sending and recording overlap: sender threads take rows from a small buffer (`todo`)
    that the loop keeps filled, and their outcomes are written in batches, so no batch waits for the
    slowest request of the previous one. Outcomes go into a deque (appends are atomic) that only the
    loop empties, looking every few milliseconds: no sender ever waits on a lock to hand one in.

    The loop, like rq's `Worker.work()`, reads as its steps: `check` (status, quiet hours, liveness,
    once a second), `refill`, `collect`, `record` (with `check_failures`), and `stop`."""

    def __init__(self, campaign_id: int, slot: int, *, max_runtime: float = MAX_RUNTIME_SECONDS) -> None:
        settings = get_settings()
        self.campaign_id, self.slot, self.max_runtime = campaign_id, slot, max_runtime
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{slot}:{uuid.uuid4().hex[:6]}"
        self.key = dispatcher_key(campaign_id, slot)
        self.batch = settings.send_batch_size
        self.lease_seconds = settings.send_lease_seconds
        self.counts = {kind.value: 0 for kind in COUNTED}
        self.window: deque[bool] = deque(maxlen=settings.failure_window)  # failed or unanswered, lately
        self.todo: queue_mod.Queue[ledger.Claimed | None] = queue_mod.Queue()  # None: a sender's signal to stop
        self.done: deque[ledger.Outcome] = deque()
        self.outcomes: list[ledger.Outcome] = []  # taken from `done`, not yet recorded
        self.in_flight = 0  # claimed and not yet recorded
        self.stopping = threading.Event()  # rows in hand but not yet sent go back to pending
        self.exhausted = False  # no more claims: nothing left, stopped, or time is up
        self.paused = False
        self.time_up = False
        self.stop_reason: str | None = None
        self.started = time.monotonic()
        self.last_check = 0.0  # checked at the first turn
        self.last_renewal = self.last_record = self.started
        self.job = _load_job(campaign_id, self.owner)
        self.pacer = pacer_for(self.job, ratelimit.limiter()) if self.job is not None else None
        self.threads = [threading.Thread(target=self._sender, daemon=True, name=f"send-{campaign_id}-{i}")
                        for i in range(settings.send_concurrency)]

    def run(self) -> dict[str, int]:
        try:
            if self.job is None:
                return self.counts
            for thread in self.threads:
                thread.start()
            while not (self.exhausted and self.in_flight == 0):
                self.check()
                self.refill()
                self.collect()
                if self.outcomes and self.record_due():
                    self.record()
            if self.stop_reason is None:
                with db.session_scope() as session:
                    campaigns.complete_if_done(session, self.campaign_id)
        finally:
            self.shut_down()
        log.info("Dispatcher %s for campaign %s stopped: %s", self.slot, self.campaign_id, self.counts,
                 extra={"campaign_id": self.campaign_id})
        return self.counts

    def _sender(self) -> None:
        # One provider (its own transport, one kept-alive connection) per sender thread: a pool shared
        # by 32 threads spends more time in its lock than on the wire.
        assert self.job is not None and self.pacer is not None
        with respondio.opened(max_retries=0) as provider:
            while (row := self.todo.get()) is not None:
                try:
                    self.done.append(send_one(self.job, row, provider, self.pacer, self.stopping))
                except Exception as err:  # never lose a claimed row: it is reconciled before any resend
                    log.exception("Send of recipient %s failed unexpectedly", row.id)
                    self.done.append(ledger.Outcome(row.id, Kind.UNCERTAIN, error_message=str(err)))

    def check(self) -> None:
        """Once a second: alive, leases renewed, and stopped when time is up or the campaign no
        longer runs (paused, cancelled, in quiet hours)."""
        now = time.monotonic()
        if now - self.last_check <= 1.0:
            return
        self.last_check = now
        _mark_alive(self.key)
        if self.in_flight and now - self.last_renewal > self.lease_seconds / 3:
            self.last_renewal = now
            with db.session_scope() as session:
                ledger.renew(session, owner=self.owner, lease_seconds=self.lease_seconds)
        if not self.exhausted and (now - self.started > self.max_runtime
                                   or _load_job(self.campaign_id, self.owner) is None):
            self.time_up = now - self.started > self.max_runtime
            self.stop()

    def refill(self) -> None:
        """Claimed while a batch is still buffered, so that no sender waits for the claim."""
        if self.exhausted or self.todo.qsize() >= self.batch or self.in_flight >= self.batch * 3:
            return
        with db.session_scope() as session:
            rows = ledger.claim(session, self.campaign_id, owner=self.owner, limit=self.batch,
                                lease_seconds=self.lease_seconds)
        for row in rows:
            self.todo.put(row)
        self.in_flight += len(rows)
        if not rows:
            self.exhausted = True

    def collect(self) -> None:
        """The senders' outcomes, up to a batch (only this thread takes from `done`)."""
        if not self.done:
            time.sleep(OUTCOME_POLL_SECONDS)
        while self.done and len(self.outcomes) < self.batch:
            self.outcomes.append(self.done.popleft())

    def record_due(self) -> bool:
        return (len(self.outcomes) >= self.batch or time.monotonic() - self.last_record >= RECORD_EVERY_SECONDS
                or (self.exhausted and len(self.outcomes) == self.in_flight))

    def record(self) -> None:
        """The collected outcomes written in one transaction, counted, then judged."""
        outcomes, self.outcomes = self.outcomes, []
        self.last_record = time.monotonic()
        with db.session_scope() as session:
            ledger.record(session, outcomes, owner=self.owner)
        self.in_flight -= len(outcomes)
        for (kind, code), n in Counter((o.kind, o.error_code or "") for o in outcomes).items():
            self.counts[kind] += n
            metrics.MESSAGES.labels(kind, code).inc(n)
        for outcome in outcomes:
            if outcome.kind == Kind.FAILED:
                log.info("Recipient %s failed: WhatsApp %s", outcome.id, outcome.error_code,
                         extra={"campaign_id": self.campaign_id, "recipient_id": outcome.id})
        self.check_failures(outcomes)

    def check_failures(self, outcomes: list[ledger.Outcome]) -> None:
        """A blocking error (template, quality, token), or too many failures lately, pauses the
        campaign with its reason. An answer lost (a 5xx, a timeout) counts against the window too: a
        provider that answers nothing but errors pauses the campaign, not an endless loop."""
        for outcome in outcomes:
            if outcome.kind in (Kind.SENT, Kind.FAILED, Kind.UNCERTAIN):
                self.window.append(outcome.kind != Kind.SENT)
        blocking = next((o for o in outcomes if o.kind == Kind.REQUEUE), None)
        window = self.window
        if blocking is not None and self.stop_reason is None:
            self.stop_reason = pause_reason(blocking)
        elif (self.stop_reason is None and len(window) == window.maxlen
              and sum(window) / len(window) >= get_settings().failure_pause_rate):
            self.stop_reason = (f"Trop d'échecs : {sum(window)} sur les {len(window)} derniers envois ont échoué "
                                "ou sont restés sans réponse de Respond.io")
        if self.stop_reason is not None and not self.paused:
            _pause(self.campaign_id, self.stop_reason)
            self.paused = True
            self.stop()

    def stop(self) -> None:
        """No more claims; rows claimed but not yet picked up by a sender go back to pending untouched.
        The loop ends once every row in flight is recorded."""
        self.exhausted = True
        self.stopping.set()
        while True:
            try:
                row = self.todo.get_nowait()
            except queue_mod.Empty:
                return
            if row is not None:
                self.done.append(ledger.Outcome(row.id, Kind.RELEASE))

    def shut_down(self) -> None:
        """Also on a crash (the database gone): no sender starts a row nobody will record; the next
        dispatcher is queued when time ran out with the campaign still running."""
        self.stopping.set()
        for _ in self.threads:
            self.todo.put(None)
        if not (self.time_up and self.stop_reason is None and _continue(self.campaign_id, self.slot)):
            queue.forget(self.key)
