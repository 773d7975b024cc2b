"""The dispatcher against the fake Respond.io server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from core import campaigns, db, queue
from core.config import reload_settings
from core.models import Campaign, Contact, Recipient, StatusEvent
from tests.campaign_fixtures import TEMPLATE, make_audience, make_campaign
from workers.dispatch import dispatch_campaign, dispatcher_key
from workers.scheduler import tick


@pytest.fixture
def provider_env(db_url, fake_respondio, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("RESPONDIO_API_TOKEN", fake_respondio.token)
    monkeypatch.setenv("RESPONDIO_BASE_URL", fake_respondio.base_url)
    monkeypatch.setenv("RESPONDIO_CHANNEL_ID", str(fake_respondio.channel_id))
    monkeypatch.setenv("RESPONDIO_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("MAX_SEND_RATE", "2000")
    monkeypatch.setenv("SEND_BATCH_SIZE", "20")
    monkeypatch.setenv("SEND_CONCURRENCY", "8")
    monkeypatch.setenv("SCHEDULER_INTERVAL_SECONDS", "0.2")
    monkeypatch.setenv("RECONCILE_RATE", "100")
    monkeypatch.setenv("MAX_SEND_ATTEMPTS", "10")  # these tests check exactly once, not the attempts policy
    monkeypatch.setenv("STATUS_POLL_DELAY_SECONDS", "100000")  # nor statuses: a slow run keeps its rows `sent`
    reload_settings()
    fake_respondio.templates = {TEMPLATE["name"]: 3}
    yield fake_respondio
    reload_settings()


def launched(size: int = 60, **kw) -> tuple[int, int]:  # noqa: ANN003
    with db.session_scope() as session:
        audience = make_audience(session, size)
        campaign = make_campaign(session, audience, **kw)
        campaigns.launch(session, campaign)
        pending = session.scalar(select(Campaign.total_recipients).where(Campaign.id == campaign.id))
        sendable = len([r for r in session.scalars(select(Recipient.status).where(
            Recipient.campaign_id == campaign.id)).all() if r == "pending"])
        return campaign.id, sendable if pending else 0


def ledger(campaign_id: int) -> Counter:
    with db.session_scope() as session:
        return Counter(session.scalars(select(Recipient.status).where(Recipient.campaign_id == campaign_id)).all())


def run_until_settled(campaign_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tick()
        with db.session_scope() as session:
            status = campaigns.get(session, campaign_id).status
        if status != "running":
            return status
        time.sleep(0.2)
    raise AssertionError("campaign did not settle")


def assert_exactly_once(fake, campaign_id: int) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        sent = session.execute(select(Recipient.phone, Recipient.provider_message_id).where(
            Recipient.campaign_id == campaign_id, Recipient.status == "sent")).all()
    per_phone = Counter(m.identifier for m in fake.accepted)
    assert per_phone and max(per_phone.values()) == 1, [p for p, n in per_phone.items() if n > 1]
    assert {f"phone:{p}" for p, _ in sent} == set(per_phone)
    accepted_ids = {str(m.message_id) for m in fake.accepted}
    assert {mid for _, mid in sent} == accepted_ids


def test_campaign_is_sent_once_to_everyone(provider_env) -> None:  # noqa: ANN001
    campaign_id, sendable = launched(60)
    assert run_until_settled(campaign_id) == "completed"
    counts = ledger(campaign_id)
    assert counts["sent"] == sendable and counts["pending"] == counts["sending"] == 0
    assert_exactly_once(provider_env, campaign_id)
    message = provider_env.accepted[0].message
    body = message["template"]["components"][0]["parameters"]
    assert message["template"]["name"] == TEMPLATE["name"] and len(body) == 3 and body[2]["text"] == "31 janvier 2027"


def test_5xx_and_429_bursts_lose_no_one_and_send_no_one_twice(provider_env) -> None:  # noqa: ANN001
    provider_env.error_rate = 0.10
    provider_env.rate_limit = 40
    provider_env.fail_next(5, status=429, body={"code": 429, "message": "Too many requests"}, retry_after=0.3)
    campaign_id, sendable = launched(120)
    assert run_until_settled(campaign_id, timeout=90) == "completed"
    counts = ledger(campaign_id)
    assert counts["sent"] == sendable and counts["failed"] == 0, counts
    assert_exactly_once(provider_env, campaign_id)


def test_timeouts_after_acceptance_are_reconciled_not_resent(provider_env) -> None:  # noqa: ANN001
    provider_env.latency = 0.0
    campaign_id, sendable = launched(30)
    provider_env.timeouts_next = 6  # the server records the message, then answers too late
    provider_env.timeout_seconds = 2.5
    original_send = provider_env.send

    async def accept_then_stall(request):  # noqa: ANN001, ANN202
        stall = provider_env.timeouts_next > 0
        if stall:
            provider_env.timeouts_next -= 1
        response = await original_send(request)
        if stall:
            import asyncio

            await asyncio.sleep(provider_env.timeout_seconds)
        return response

    provider_env.send = accept_then_stall
    provider_env.stop()
    provider_env.start()
    reload_settings_for(provider_env)
    assert run_until_settled(campaign_id, timeout=90) == "completed"
    assert ledger(campaign_id)["sent"] == sendable
    assert_exactly_once(provider_env, campaign_id)


def reload_settings_for(fake) -> None:  # noqa: ANN001
    import os

    os.environ["RESPONDIO_BASE_URL"] = fake.base_url
    reload_settings()


def test_template_error_pauses_the_campaign(provider_env) -> None:  # noqa: ANN001
    provider_env.templates = {TEMPLATE["name"]: 2}  # WhatsApp expects 2 parameters: 132000
    campaign_id, sendable = launched(40)
    assert run_until_settled(campaign_id) == "paused"
    with db.session_scope() as session:
        reason = campaigns.get(session, campaign_id).status_reason
    assert "132000" in reason and "paramètres" in reason
    deadline = time.monotonic() + 10  # the dispatchers hand back the rows they held, within a moment
    while ledger(campaign_id)["sending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    counts = ledger(campaign_id)
    assert counts["pending"] == sendable and counts["failed"] == 0, counts  # no one is charged for our mistake
    provider_env.templates = {TEMPLATE["name"]: 3}  # fixed at WhatsApp
    with db.session_scope() as session:
        campaigns.resume(session, campaigns.get(session, campaign_id))
    assert run_until_settled(campaign_id) == "completed"
    assert_exactly_once(provider_env, campaign_id)


def test_a_failure_rate_above_the_threshold_pauses(provider_env, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FAILURE_WINDOW", "20")
    reload_settings()
    provider_env.fail_next(2000, status=400, body={"code": 400, "message": "(#131026) Message undeliverable"})
    campaign_id, sendable = launched(400)
    assert run_until_settled(campaign_id) == "paused"
    with db.session_scope() as session:
        assert "Trop d'échecs" in campaigns.get(session, campaign_id).status_reason
    assert ledger(campaign_id)["pending"] > sendable / 2  # stopped early, the rest is kept for later


def test_pause_stops_within_seconds_and_cancel_leaves_pending_unsent(provider_env, monkeypatch) -> None:  # noqa: ANN001
    campaign_id, sendable = launched(200, rate_limit=20)
    thread = threading.Thread(target=dispatch_campaign, args=(campaign_id, 0), daemon=True)
    thread.start()
    time.sleep(1.5)
    with db.session_scope() as session:
        campaigns.pause(session, campaigns.get(session, campaign_id))
    paused_at = len(provider_env.accepted)
    thread.join(timeout=10)
    assert not thread.is_alive()
    time.sleep(1)
    assert len(provider_env.accepted) - paused_at <= 20  # only the batch already claimed
    counts = ledger(campaign_id)
    assert counts["sending"] == 0 and counts["pending"] > 100
    with db.session_scope() as session:
        campaigns.cancel(session, campaigns.get(session, campaign_id))
    tick()
    time.sleep(1)
    assert ledger(campaign_id)["pending"] == counts["pending"] and len(provider_env.accepted) == counts["sent"]


def test_a_dispatcher_out_of_time_hands_over_at_once(provider_env) -> None:  # noqa: ANN001
    campaign_id, sendable = launched(160, rate_limit=20)  # about 6 s of sending, more than one claim
    first = dispatch_campaign(campaign_id, 0, max_runtime=0.5)
    assert 0 < first["sent"] < sendable
    assert queue.alive(dispatcher_key(campaign_id, 0))  # the next one is queued: the scheduler leaves the slot
    deadline = time.monotonic() + 20
    while ledger(campaign_id)["sent"] < sendable and time.monotonic() < deadline:  # no scheduler tick here
        time.sleep(0.2)
    assert ledger(campaign_id)["sent"] == sendable
    assert_exactly_once(provider_env, campaign_id)
    deadline = time.monotonic() + 10
    while queue.alive(dispatcher_key(campaign_id, 0)) and time.monotonic() < deadline:
        time.sleep(0.2)
    with db.session_scope() as session:  # the last one closed the campaign and its slot
        assert campaigns.get(session, campaign_id).status == "completed"
    assert not queue.alive(dispatcher_key(campaign_id, 0))


def test_quiet_hours_hold_every_dispatcher(provider_env) -> None:  # noqa: ANN001
    campaign_id, _ = launched(20, quiet_hours="00:00-23:59")
    tick()
    time.sleep(0.5)
    assert sum(dispatch_campaign(campaign_id).values()) == 0
    assert provider_env.accepted == [] and ledger(campaign_id)["pending"] > 0


def test_rate_cap_is_respected(provider_env) -> None:  # noqa: ANN001
    campaign_id, sendable = launched(60, rate_limit=20)
    started = time.monotonic()
    assert run_until_settled(campaign_id) == "completed"
    elapsed = time.monotonic() - started
    stamps = sorted(m.at for m in provider_env.accepted)
    assert elapsed >= (sendable - 1) / 20 * 0.9
    worst = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert worst <= 21


def test_a_phone_the_workspace_never_saw_is_created_then_sent_once(provider_env) -> None:  # noqa: ANN001
    provider_env.unknown_contact_send = "refuse"  # the real API may refuse it: 404 Contact not found
    campaign_id, sendable = launched(30)
    assert run_until_settled(campaign_id) == "completed"
    assert ledger(campaign_id)["sent"] == sendable
    assert_exactly_once(provider_env, campaign_id)
    assert provider_env.count("contact") == sendable  # one creation per person, no more
    with db.session_scope() as session:
        named = {phone: (first, last) for phone, first, last in session.execute(select(
            Recipient.phone, Contact.first_name, Contact.last_name).join(
            Contact, Contact.id == Recipient.contact_id).where(Recipient.campaign_id == campaign_id,
                                                      Recipient.status == "sent")).all()}
    for phone, (first, last) in named.items():
        created = provider_env.contacts[f"phone:{phone}"]
        assert created["phone"] == phone
        assert (created["firstName"], created["lastName"]) == ((first, last) if first else (last, ""))


def test_sends_accepted_whose_answer_was_lost_are_found_not_resent(provider_env) -> None:  # noqa: ANN001
    provider_env.lost_answer_rate = 0.3  # accepted and recorded, then answered 502
    campaign_id, sendable = launched(60)
    assert run_until_settled(campaign_id, timeout=90) == "completed"
    assert ledger(campaign_id)["sent"] == sendable
    assert_exactly_once(provider_env, campaign_id)
    with db.session_scope() as session:
        found = session.scalar(select(func.count()).select_from(StatusEvent).where(StatusEvent.source == "reconcile"))
    assert found and found >= 5  # found by reconciliation, one list request each


def test_a_refused_token_pauses_the_campaign_and_charges_no_one(provider_env) -> None:  # noqa: ANN001
    campaign_id, sendable = launched(30)
    provider_env.token = "revoked"  # our token no longer opens anything
    assert run_until_settled(campaign_id) == "paused"
    with db.session_scope() as session:
        reason = campaigns.get(session, campaign_id).status_reason
    assert "RESPONDIO_API_TOKEN" in reason and "401" in reason
    deadline = time.monotonic() + 10
    while ledger(campaign_id)["sending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ledger(campaign_id)["pending"] == sendable and ledger(campaign_id)["failed"] == 0


def test_contact_creation_refused_or_limited_only_delays_the_send(provider_env) -> None:  # noqa: ANN001
    provider_env.unknown_contact_send = "refuse"
    provider_env.method_limits = {"contact": 5}  # contact creation answered 429 above 5/s
    provider_env.fail_next(3, status=500)  # and a few 500s on the way
    campaign_id, sendable = launched(40)
    assert run_until_settled(campaign_id, timeout=120) == "completed"
    counts = ledger(campaign_id)
    with db.session_scope() as session:
        failures = session.execute(select(Recipient.error_code, Recipient.error_message, Recipient.attempts).where(
            Recipient.campaign_id == campaign_id, Recipient.status == "failed")).all()
    assert counts["sent"] == sendable and counts["failed"] == 0, failures
    assert_exactly_once(provider_env, campaign_id)


def test_a_provider_answering_only_errors_pauses_the_campaign_with_a_reason(provider_env, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("FAILURE_WINDOW", "20")
    reload_settings()
    provider_env.error_rate = 1.0  # every send answered 500: nothing accepted, outcome unknown each time
    campaign_id, sendable = launched(60)
    assert run_until_settled(campaign_id, timeout=120) == "paused"
    with db.session_scope() as session:
        reason = campaigns.get(session, campaign_id).status_reason
    assert "Trop d'échecs" in reason and "sans réponse de Respond.io" in reason
    assert provider_env.accepted == []


def test_a_creation_after_the_last_quick_try_still_sends(provider_env) -> None:  # noqa: ANN001
    provider_env.unknown_contact_send = "refuse"
    provider_env.fail_next(2, status=503)  # two quick tries answered 503, the third 404 Contact not found
    campaign_id, sendable = launched(1 + 10)  # (a few are skipped: opted out, no agency)
    assert run_until_settled(campaign_id) == "completed"
    assert ledger(campaign_id)["failed"] == 0 and ledger(campaign_id)["sent"] == sendable
    assert_exactly_once(provider_env, campaign_id)


def test_a_contact_still_unknown_after_its_creation_fails_after_its_attempts(provider_env, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("MAX_SEND_ATTEMPTS", "2")
    reload_settings()
    provider_env.unknown_contact_send = "refuse"
    provider_env.forget_creations = True
    campaign_id, sendable = launched(12)
    deadline = time.monotonic() + 60
    while ledger(campaign_id)["failed"] < sendable and time.monotonic() < deadline:
        tick()
        with db.session_scope() as session:  # no backoff wait in a test
            session.execute(update(Recipient).where(Recipient.campaign_id == campaign_id)
                            .values(next_attempt_at=None))
        time.sleep(0.2)
    assert ledger(campaign_id)["failed"] == sendable and provider_env.accepted == []
    with db.session_scope() as session:
        assert set(session.scalars(select(Recipient.error_code).where(Recipient.status == "failed"))) == {"http_404"}
        assert max(session.scalars(select(Recipient.attempts))) <= 2
