"""The dispatcher job: claim small batches of a running campaign, send them concurrently under the
shared rate limit, record every outcome. Several dispatchers (threads or RQ workers, on any number
of machines) can work on one campaign; each exits after a while and the scheduler starts new ones,
so pause, cancel and redeploys take effect quickly."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from core import campaigns, db, dispatch, queue, ratelimit, respondio, templates
from core.config import get_settings
from core.models import CampaignStatus, Template
from core.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_RUNTIME_SECONDS = 120.0
LOCAL_TRIES = 3  # quick tries of one send before it goes back to the ledger


@dataclass(frozen=True)
class Job:
    campaign_id: int
    template_name: str
    language: str
    template_data: dict
    rate: float
    owner: str


def dispatcher_key(campaign_id: int, slot: int) -> str:
    return f"dispatcher:{campaign_id}:{slot}"


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 5 * 2 ** max(0, attempts - 1)))


def send_one(job: Job, row: dispatch.Claimed, provider: respondio.Provider, limiter: ratelimit.Limiter) -> dispatch.Outcome:
    settings = get_settings()
    limits = [(f"campaign:{job.campaign_id}", job.rate), ("provider", settings.max_send_rate)]
    components = templates.provider_components(job.template_data, row.parameters)
    error: respondio.ProviderError | None = None
    for _ in range(LOCAL_TRIES):
        ratelimit.acquire(limiter, limits)
        try:
            message_id = provider.send_template(row.phone, job.template_name, job.language, components)
            return dispatch.Outcome(row.id, "sent", message_id=message_id)
        except respondio.ProviderError as err:
            error = err
        if error.maybe_sent:
            # The request may have arrived: never resend before asking the provider.
            try:
                found = dispatch.find_at_provider(provider, row.phone, row.sending_at, job.template_name)
            except respondio.ProviderError:
                return dispatch.Outcome(row.id, "uncertain", error_message=str(error))
            if found is not None:
                return dispatch.Outcome(row.id, "sent", message_id=found.message_id)
        if not error.transient or error.kind in ("template", "quality"):
            break
        if error.status == 429 or error.whatsapp_code == "130429":
            limiter.block(error.retry_after or 1.0)
        else:
            time.sleep(min(2.0, 0.2 * (1 + _ + row.attempts)))
    assert error is not None
    code = error.whatsapp_code or (f"http_{error.status}" if error.status else "network")
    if error.kind in ("template", "quality"):
        return dispatch.Outcome(row.id, "requeue", error_code=code, error_message=str(error))
    if error.transient and row.attempts < settings.max_send_attempts:
        return dispatch.Outcome(row.id, "retry", error_code=code, error_message=str(error),
                                retry_at=utcnow() + _backoff(row.attempts))
    return dispatch.Outcome(row.id, "failed", error_code=code, error_message=str(error))


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


def dispatch_campaign(campaign_id: int, slot: int = 0, *, max_runtime: float = MAX_RUNTIME_SECONDS) -> dict:
    """Send a running campaign until it is done, paused, cancelled, in quiet hours, or time is up."""
    settings = get_settings()
    owner = f"{socket.gethostname()}:{os.getpid()}:{slot}:{uuid.uuid4().hex[:6]}"
    key = dispatcher_key(campaign_id, slot)
    provider = respondio.provider(max_retries=0)
    limiter = ratelimit.limiter()
    window: deque[bool] = deque(maxlen=settings.failure_window)
    started = time.monotonic()
    counts = {"sent": 0, "failed": 0, "retry": 0, "requeue": 0, "uncertain": 0}
    try:
        with ThreadPoolExecutor(max_workers=settings.send_concurrency, thread_name_prefix=f"send-{campaign_id}") as pool:
            while time.monotonic() - started < max_runtime:
                queue.heartbeat(key, ttl=max(5.0, settings.scheduler_interval_seconds * 4))
                job = _load_job(campaign_id, owner)
                if job is None:
                    break
                with db.session_scope() as session:
                    rows = dispatch.claim(session, campaign_id, owner=owner, limit=settings.send_batch_size,
                                          lease_seconds=settings.send_lease_seconds)
                if not rows:
                    with db.session_scope() as session:
                        campaigns.complete_if_done(session, campaign_id)
                    break
                outcomes = list(pool.map(lambda r: send_one(job, r, provider, limiter), rows))
                with db.session_scope() as session:
                    dispatch.record(session, outcomes, owner=owner)
                for outcome in outcomes:
                    counts[outcome.kind] += 1
                    if outcome.kind in ("sent", "failed"):
                        window.append(outcome.kind == "failed")
                blocking = next((o for o in outcomes if o.kind == "requeue"), None)
                if blocking is not None:
                    label = respondio.ERROR_LABELS.get(blocking.error_code or "", blocking.error_message or "")
                    _pause(campaign_id, f"Erreur WhatsApp {blocking.error_code} : {label}")
                    break
                if len(window) == window.maxlen and sum(window) / len(window) >= settings.failure_pause_rate:
                    _pause(campaign_id, f"Trop d'échecs : {sum(window)} sur les {len(window)} derniers envois")
                    break
    finally:
        queue.forget(key)
        if provider.name != "sandbox":
            provider.close()
    log.info("Dispatcher %s for campaign %s stopped: %s", slot, campaign_id, counts, extra={"campaign_id": campaign_id})
    return counts
