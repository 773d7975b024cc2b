"""The scheduler tick: start due campaigns (once), recover abandoned sends, poll statuses, keep
dispatchers running, close finished campaigns, refresh the analytics summaries, and ask for a drain
while inbound events wait. Any number of processes may call it; one at a time does the work."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core import campaigns, db, inbound, ledger, outbox, queue, ratelimit, respondio, stats, statuses
from core.config import get_settings
from core.health import SCHEDULER_KEY
from core.models import Campaign, CampaignStatus
from workers.dispatch import dispatcher_key
from workers.dispatch import start as start_dispatcher
from workers.inbound import request_drain

log = logging.getLogger(__name__)


def _renew(lock: queue.Lock) -> None:
    if not lock.renew():
        log.warning("The scheduler's lock expired during a tick; the tick goes on (its steps are guarded)")


def _per_tick(rate: float) -> int:
    return max(1, int(rate * get_settings().scheduler_interval_seconds))


def tick() -> dict[str, Any]:
    settings = get_settings()
    # Longer than a tick can take (each provider step stops after about one interval), renewed between
    # steps. A tick that lost it anyway goes on: every step is guarded and may run twice at once.
    lock = queue.acquire("scheduler", ttl=max(60.0, settings.scheduler_interval_seconds * 12))
    if lock is None:
        return {"skipped": True}
    try:
        queue.heartbeat(SCHEDULER_KEY, ttl=max(30.0, settings.scheduler_interval_seconds * 6))
        with db.session_scope() as session:
            started = campaigns.start_due(session)
        with respondio.opened(max_retries=0) as provider:
            _renew(lock)
            # Each under its own provider method's budget, as many as it allows until the next tick,
            # so that a tick never runs long and neither starves the other nor the sends.
            lookups = ratelimit.Pacer(ratelimit.limiter(), [("reconcile", settings.reconcile_rate)],
                                      block_key="blocked:list")
            with db.session_scope() as session:
                reconciled = ledger.reconcile_expired(
                    session, provider, limit=_per_tick(settings.reconcile_rate),
                    deadline=time.monotonic() + settings.scheduler_interval_seconds, pacer=lookups,
                    ask=not ledger.list_blocked()).as_dict()  # told to wait: only the bound applies
            _renew(lock)
            with db.session_scope() as session:  # the outbox: the same rules, the same lookup budget
                swept = outbox.sweep(session, provider, limit=_per_tick(settings.reconcile_rate),
                                     deadline=time.monotonic() + settings.scheduler_interval_seconds,
                                     pacer=lookups, ask=not ledger.list_blocked())
            if swept.due:
                outbox.request_delivery()
            _renew(lock)
            with db.session_scope() as session:
                polled = statuses.poll(session, provider, delay_seconds=settings.status_poll_delay_seconds,
                                       limit=_per_tick(settings.status_poll_rate),
                                       deadline=time.monotonic() + settings.scheduler_interval_seconds,
                                       pacer=ratelimit.Pacer(ratelimit.limiter(),
                                                             [("status-poll", settings.status_poll_rate)],
                                                             block_key="blocked:status"))
        _renew(lock)
        if queue.try_lock("analytics-refresh", ttl=settings.analytics_refresh_seconds):  # at most that often
            with db.session_scope() as session:
                stats.refresh(session)
        with db.session_scope() as session:
            inbound_waiting = inbound.pending_count(session)
        with db.session_scope() as session:  # questions whose answer was lost with its worker
            unanswered = inbound.hand_over_unanswered(
                session, older_than=timedelta(seconds=settings.chatbot_answer_timeout_seconds))
        if inbound_waiting:
            request_drain()
        _renew(lock)
        enqueued = 0
        with db.session_scope() as session:
            running = session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.RUNNING)).all()
            for campaign in running:
                if campaigns.complete_if_done(session, campaign.id):
                    continue
                if campaigns.in_quiet_hours(campaign):
                    continue
                for slot in range(settings.dispatchers_per_campaign):
                    key = dispatcher_key(campaign.id, slot)
                    if queue.alive(key):
                        continue
                    start_dispatcher(campaign.id, slot)
                    enqueued += 1
        return {"started": started, "reconciled": reconciled, "outbox": swept.as_dict(), "polled": polled,
                "dispatchers_enqueued": enqueued,
                "inbound_waiting": inbound_waiting, "unanswered_handed_over": unanswered}
    finally:
        lock.release()  # only if still ours: a tick that outlived its lock leaves the next one alone
