"""Reconciliation, one test per row of its table, against the fake Respond.io server on loopback (a
real HTTP server that answers as the real API does, 404 `Contact not found` included), on SQLite
and PostgreSQL. A row is claimed by a dispatcher that dies; what the provider then says decides."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import campaigns, health, labels, ledger, queue, ratelimit, respondio, statuses
from core.config import reload_settings
from core.models import Campaign, Recipient, StatusEvent
from core.timeutil import utcnow
from tests.campaign_fixtures import TEMPLATE, make_audience, make_campaign


@pytest.fixture
def fake(fake_respondio, monkeypatch):  # noqa: ANN001, ANN201
    fake_respondio.templates = {TEMPLATE["name"]: 3, "autre_modele": 3}
    monkeypatch.setenv("RESPONDIO_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("RECONCILE_MAX_TRIES", "3")
    monkeypatch.setenv("SENDING_MAX_MINUTES", "15")
    reload_settings()
    yield fake_respondio
    queue.forget(ledger.LIST_BLOCK_KEY)  # a 429 of this test must not hold back the next one's lookups
    reload_settings()


@pytest.fixture
def client(fake):  # noqa: ANN001, ANN201
    provider = respondio.RespondIO(fake.token, base_url=fake.base_url, channel_id=fake.channel_id, timeout=1.0,
                                   max_retries=0)
    yield provider
    provider.close()


def abandoned(session, count: int = 1):  # noqa: ANN001, ANN201
    """A running campaign whose first `count` rows a dead dispatcher claimed."""
    audience = make_audience(session, 20)
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    session.flush()
    return campaign, ledger.claim(session, campaign.id, owner="dead", limit=count, lease_seconds=1)


def send_as_claimed(client, row, *, template: str = TEMPLATE["name"]) -> str:  # noqa: ANN001
    """The provider accepted the dead dispatcher's request (its answer was lost)."""
    components = [{"type": "body", "parameters": [{"type": "text", "text": v} for v in row.parameters["body"]]}]
    return client.send_template(row.phone, template, "fr", components)


def later(minutes: float = 0.1):  # noqa: ANN201
    return utcnow() + timedelta(minutes=minutes)


def two_campaigns_to_one_audience(session):  # noqa: ANN001, ANN201
    audience = make_audience(session, 6)
    first = make_campaign(session, audience, name="Première")
    second = make_campaign(session, audience, name="Seconde")
    for campaign in (first, second):
        campaigns.launch(session, campaign)
    session.flush()
    return first, second


def row_of(session, recipient_id: int) -> Recipient:  # noqa: ANN001
    session.flush()
    session.expire_all()
    row = session.get(Recipient, recipient_id)
    assert row is not None
    return row


# --- the table: a list answered ----------------------------------------------------------------


def test_a_match_is_recorded_as_sent_and_never_sent_again(session, fake, client) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    message_id = send_as_claimed(client, row)
    result = ledger.reconcile_expired(session, client, now=later())
    assert (result.found, result.requeued, result.requests) == (1, 0, 1)
    recipient = row_of(session, row.id)
    assert (recipient.status, recipient.provider_message_id, recipient.lease_owner) == ("sent", message_id, None)
    assert session.scalar(select(StatusEvent.source).where(StatusEvent.recipient_id == row.id)) == "reconcile"
    assert len(fake.accepted) == 1


def test_a_list_without_a_match_puts_the_row_back_to_pending(session, fake, client) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    send_as_claimed(client, row, template="autre_modele")  # the person got something else, not ours
    result = ledger.reconcile_expired(session, client, now=later())
    assert (result.found, result.requeued) == (0, 1)
    assert row_of(session, row.id).status == "pending"


def test_the_same_template_with_other_parameters_is_not_a_match(session, fake, client) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    client.send_template(row.phone, TEMPLATE["name"], "fr", [
        {"type": "body", "parameters": [{"type": "text", "text": v} for v in ("Autre", "Libreville", "hier")]}])
    assert ledger.reconcile_expired(session, client, now=later()).requeued == 1


def test_contact_not_found_means_nothing_was_accepted(session, fake, client) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    with pytest.raises(respondio.ProviderError) as caught:
        client.recent_messages(row.phone)
    assert caught.value.status == 404 and caught.value.contact_unknown  # what the real API answers
    result = ledger.reconcile_expired(session, client, now=later())
    assert (result.requeued, result.postponed, result.unverified) == (1, 0, 0)
    assert row_of(session, row.id).status == "pending"


# --- the table: the provider refuses to answer -------------------------------------------------


def test_a_refused_token_pauses_the_campaign_with_a_french_reason(session, fake, client) -> None:  # noqa: ANN001
    campaign, (row,) = abandoned(session)
    fake.fail_next(1, status=401, body={"code": 401, "message": "Unauthorized"})
    result = ledger.reconcile_expired(session, client, now=later())
    assert result.paused == [campaign.id] and result.postponed == 1
    session.expire_all()
    paused = session.get(Campaign, campaign.id)
    assert paused.status == "paused" and "RESPONDIO_API_TOKEN" in paused.status_reason and "401" in paused.status_reason
    assert row_of(session, row.id).reconcile_tries == 0  # nothing learned, nothing counted against the row


def test_429_waits_as_told_and_costs_the_row_no_try(session, fake, client, redis_url) -> None:  # noqa: ANN001
    _, rows = abandoned(session, 3)
    fake.fail_next(1, status=429, body={"code": 429, "message": "Too many requests"}, retry_after=30)
    pacer = ratelimit.Pacer(ratelimit.limiter(), [("reconcile", 50.0)], block_key="blocked:list")
    now = later()
    result = ledger.reconcile_expired(session, client, now=now, pacer=pacer)
    assert result.requests == 1 and result.waited == 30  # the first refusal stops the batch
    held = [row_of(session, r.id) for r in rows]
    assert {(r.status, r.reconcile_tries) for r in held} == {("sending", 0)}
    assert sum(r.lease_expires_at >= now + timedelta(seconds=29) for r in held) == 1  # the one asked about
    # The list method waits (the next ticks do not ask); the send method does not.
    assert ledger.list_blocked()
    assert ratelimit.limiter().reserve([("send-check", 50.0)], 1) < 1


@pytest.mark.parametrize("answer", ["500", "timeout"])
def test_5xx_and_timeouts_ask_again_later_then_fail_as_unverified(session, fake, client, answer) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    send_as_claimed(client, row)  # it was accepted, but the provider will not say so
    now = later()
    for attempt in range(1, 4):
        if answer == "500":
            fake.fail_next(1, status=500)
        else:
            fake.timeouts_next, fake.timeout_seconds = 1, 1.5
        result = ledger.reconcile_expired(session, client, now=now)
        recipient = row_of(session, row.id)
        if attempt < 3:
            assert (result.postponed, recipient.status, recipient.reconcile_tries) == (1, "sending", attempt)
            assert recipient.lease_expires_at > now  # asked again after a backoff, not on every tick
            assert ledger.reconcile_expired(session, client, now=now).checked == 0
            now = recipient.lease_expires_at + timedelta(seconds=1)
    assert result.unverified == 1
    assert (recipient.status, recipient.error_code) == ("failed", "unverified")
    assert "3 vérification(s)" in recipient.error_message
    assert labels.WHATSAPP_ERROR["unverified"].startswith("Envoi non vérifiable")
    assert len(fake.accepted) == 1  # never sent twice


def test_no_row_stays_sending_past_the_bound(session, fake, client) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    fake.fail_next(1, status=503)
    result = ledger.reconcile_expired(session, client, now=later(16))
    assert result.unverified == 1 and row_of(session, row.id).error_code == "unverified"


def test_rows_past_the_bound_end_without_asking_a_provider_that_answers_nothing(session, fake) -> None:  # noqa: ANN001
    from tests.pages.test_campaigns_page import respondio_down

    _, rows = abandoned(session, 4)
    result = ledger.reconcile_expired(session, respondio_down(), now=later(16))
    assert result.requests == 0 and result.unverified == 4  # one statement, however slow the provider
    assert {row_of(session, r.id).status for r in rows} == {"failed"}


def test_lookups_stop_at_the_deadline_so_the_tick_goes_on(session, fake, client) -> None:  # noqa: ANN001
    import time

    _, rows = abandoned(session, 3)
    result = ledger.reconcile_expired(session, client, now=later(), deadline=time.monotonic() - 1)
    assert result.requests == 0 and {row_of(session, r.id).status for r in rows} == {"sending"}


def test_unverified_rows_are_counted_and_retargetable(session, fake, client) -> None:  # noqa: ANN001
    campaign, (row, other) = abandoned(session, 2)
    fake.fail_next(2, status=500)
    ledger.reconcile_expired(session, client, now=later(16))
    progress = campaigns.progress(session, campaign.id)
    assert progress.unverified == 2 and progress.as_dict()["unverified"] == 2
    draft = campaigns.retarget(session, session.get(Campaign, campaign.id), "unverified")
    assert campaigns.estimate(session, draft).audience.reachable == 2


# --- batching and cost -------------------------------------------------------------------------


def test_one_request_per_person_whatever_the_number_of_rows(session, fake, client) -> None:  # noqa: ANN001
    first, second = two_campaigns_to_one_audience(session)
    rows = ledger.claim(session, first.id, owner="dead", limit=1, lease_seconds=1)
    others = ledger.claim(session, second.id, owner="dead", limit=10, lease_seconds=1)
    rows += [r for r in others if r.phone == rows[0].phone]
    assert len(rows) == 2
    message_id = send_as_claimed(client, rows[0])  # only the first campaign's message went out
    before = fake.count("list")
    result = ledger.reconcile_expired(session, client, now=later())
    phones = {r.phone for r in others}
    assert result.checked == len(others) + 1 and result.requests == len(phones) == fake.count("list") - before
    assert (result.found, result.requeued) == (1, len(others))  # one message matches one row, not both
    assert sorted(row_of(session, r.id).provider_message_id or "" for r in rows) == ["", message_id]


def test_the_rows_being_verified_are_shown_and_the_oldest_send_in_health(session, fake, client) -> None:  # noqa: ANN001
    campaign, (row, _) = abandoned(session, 2)
    session.commit()
    assert campaigns.progress(session, campaign.id, now=later()).verifying == 2
    check = next(c for c in health.checks() if c.name == "Envois en cours")
    assert check.ok is True and "Le plus ancien envoi en cours a commencé il y a" in check.detail
    assert health.cluster_state().oldest_sending_seconds >= 0


def test_a_live_dispatcher_renews_its_leases(session, fake) -> None:  # noqa: ANN001
    _, rows = abandoned(session, 2)
    renewed = ledger.renew(session, owner="dead", lease_seconds=600)
    assert renewed == 2 and row_of(session, rows[0].id).lease_expires_at > later(9)
    assert ledger.reconcile_expired(session, respondio.Sandbox(), now=later(1)).checked == 0


# --- a status call answered 404 ----------------------------------------------------------------


def sent_row(session, client) -> Recipient:  # noqa: ANN001
    _, (row,) = abandoned(session)
    message_id = send_as_claimed(client, row)
    ledger.record(session, [ledger.Outcome(row.id, "sent", message_id=message_id)], owner="dead")
    return row_of(session, row.id)


def test_status_404_message_not_found_is_decided_by_the_list(session, fake, client) -> None:  # noqa: ANN001
    recipient = sent_row(session, client)
    fake.fail_next(1, status=404, body={"code": 404, "message": "Message not found"})  # the status call
    before = fake.count("list")
    statuses.poll(session, client, delay_seconds=0, now=later(1))
    assert fake.count("list") - before == 1
    assert row_of(session, recipient.id).status == "delivered"  # the list had it, delivered


def test_a_message_neither_the_status_nor_the_list_knows_fails_unverified(session, fake, client) -> None:  # noqa: ANN001
    recipient = sent_row(session, client)
    fake.accepted.clear()
    fake.by_identifier.clear()
    fake.by_id.clear()  # the provider lost it
    result = statuses.poll(session, client, delay_seconds=0, now=later(1))
    assert result["changed"] == 1
    recipient = row_of(session, recipient.id)
    assert (recipient.status, recipient.error_code) == ("failed", "unverified")


def test_a_status_poll_for_an_unknown_contact_fails_unverified(session, fake, client) -> None:  # noqa: ANN001
    recipient = sent_row(session, client)
    fake.contacts.clear()
    statuses.poll(session, client, delay_seconds=0, now=later(1))
    assert row_of(session, recipient.id).error_code == "unverified"


def test_a_status_poll_keeps_asking_when_the_list_fails_too(session, fake, client) -> None:  # noqa: ANN001
    recipient = sent_row(session, client)
    fake.fail_next(1, status=404, body={"code": 404, "message": "Message not found"})
    fake.fail_next(1, status=502)
    result = statuses.poll(session, client, delay_seconds=0, now=later(1))
    assert result["errors"] == 1 and row_of(session, recipient.id).status == "sent"


# --- answers that must never be taken for "nothing was sent" (found by an adversarial review) -----


@pytest.mark.parametrize("answer", [
    {"status": 200, "body": {"unexpected": True}},  # a 200 of another shape
    {"status": 200, "body": {}},
    {"status": 200, "body": []},  # a JSON list
    {"status": 200, "raw": "<html>maintenance</html>"},  # not JSON at all
    {"status": 404, "raw": "Cannot GET /v2/contact/phone:+24177010001/message/list"},  # a gateway's 404
    {"status": 404, "body": {"code": 404, "message": "Not found"}},
])
def test_an_answer_that_says_nothing_is_asked_again_never_taken_for_no_trace(session, fake, client, answer) -> None:  # noqa: ANN001
    _, (row,) = abandoned(session)
    send_as_claimed(client, row)  # accepted; its answer was lost
    fake.fail_next(1, **answer)
    result = ledger.reconcile_expired(session, client, now=later())
    assert (result.requeued, result.postponed) == (0, 1)
    assert row_of(session, row.id).status == "sending"
    assert ledger.reconcile_expired(session, client, now=later(5)).found == 1  # asked again: found
    assert len(fake.accepted) == 1


def test_a_message_of_another_kind_or_already_recorded_is_not_ours(session, fake, client) -> None:  # noqa: ANN001
    first, second = two_campaigns_to_one_audience(session)
    (earlier,) = ledger.claim(session, first.id, owner="w", limit=1, lease_seconds=60)
    message_id = send_as_claimed(client, earlier)
    ledger.record(session, [ledger.Outcome(earlier.id, "sent", message_id=message_id)], owner="w")
    row = next(r for r in ledger.claim(session, second.id, owner="dead", limit=10, lease_seconds=1)
               if r.phone == earlier.phone)
    client.send_text(row.phone, "Bonjour, un agent vous répond.")  # an agent's text after the claim
    result = ledger.reconcile_expired(session, client, now=later())
    assert row_of(session, row.id).status == "pending" and result.found == 0  # neither is this row's message
    assert row_of(session, earlier.id).provider_message_id == message_id


def test_a_long_retry_after_stops_the_lookups_not_the_scheduler(session, fake, client, redis_url) -> None:  # noqa: ANN001
    _, rows = abandoned(session, 2)
    fake.fail_next(1, status=449, body={"code": 449, "message": "Request queued, retry in a few minutes"},
                   retry_after=120)
    result = ledger.reconcile_expired(session, client, now=later(), ask=not ledger.list_blocked())
    assert result.waited == 120 and result.requests == 1 and ledger.list_blocked()
    before = fake.count("list")
    again = ledger.reconcile_expired(session, client, now=later(), ask=not ledger.list_blocked())
    assert again.requests == 0 and fake.count("list") == before  # no request, no wait: the tick goes on
    late = ledger.reconcile_expired(session, client, now=later(16), ask=not ledger.list_blocked())
    assert late.unverified == 2  # the bound holds while the provider asks us to wait


def test_a_refused_token_leaves_rows_to_verify_once_it_is_fixed(session, fake, client) -> None:  # noqa: ANN001
    campaign, (row,) = abandoned(session)
    message_id = send_as_claimed(client, row)
    fake.fail_next(1, status=401, body={"code": 401, "message": "Unauthorized"})
    assert ledger.reconcile_expired(session, client, now=later()).paused == [campaign.id]
    fake.fail_next(1, status=401, body={"code": 401, "message": "Unauthorized"})
    result = ledger.reconcile_expired(session, client, now=later(16))  # past the bound: nothing learned
    assert result.unverified == 0 and row_of(session, row.id).status == "sending"
    assert "vérifiés dès que le jeton sera accepté" in session.get(Campaign, campaign.id).status_reason
    assert ledger.reconcile_expired(session, client, now=later(17)).found == 1  # the token works again
    assert row_of(session, row.id).provider_message_id == message_id


def test_a_send_never_accepted_fails_after_its_attempts(session, fake, client, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("MAX_SEND_ATTEMPTS", "2")
    reload_settings()
    _, (row,) = abandoned(session)
    ledger.record(session, [ledger.Outcome(row.id, "uncertain", error_code="http_500",
                                               error_message="Respond.io 500")], owner="dead")
    assert ledger.reconcile_expired(session, client, now=later(1)).requeued == 1
    (again,) = ledger.claim(session, row.campaign_id if hasattr(row, "campaign_id") else
                              row_of(session, row.id).campaign_id, owner="dead", limit=1, lease_seconds=1,
                              now=later(2))
    ledger.record(session, [ledger.Outcome(again.id, "uncertain", error_code="http_500",
                                               error_message="Respond.io 500")], owner="dead", now=later(2))
    result = ledger.reconcile_expired(session, client, now=later(3))
    recipient = row_of(session, row.id)
    assert result.failed == 1 and (recipient.status, recipient.error_code) == ("failed", "http_500")
    assert "après 2 essais" in recipient.error_message and fake.accepted == []


def test_a_message_without_a_time_keeps_the_question_open_whatever_its_place() -> None:
    from datetime import UTC, datetime

    since = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    ours_untimed = respondio.SentMessage("m-new", [], None, TEMPLATE["name"], None, "whatsapp_template")
    older = respondio.SentMessage("m-old", [], since.timestamp() - 3600, "autre_modele", None, "whatsapp_template")
    no_id = respondio.SentMessage("None", [], since.timestamp() + 5, TEMPLATE["name"], None, "whatsapp_template")
    for page in ([ours_untimed, older], [older, ours_untimed]):
        assert ledger.match(page, since=since, template=TEMPLATE["name"]).verdict is ledger.Verdict.LATER
    assert ledger.match([no_id, older], since=since, template=TEMPLATE["name"]).verdict is ledger.Verdict.NOT_SENT


def test_nonsense_retry_after_is_read_as_the_default(fake, client) -> None:  # noqa: ANN001
    for value in (-5, "nan"):
        fake.fail_next(1, status=429, body={"code": 429, "message": "Too many requests"}, retry_after=value)
        with pytest.raises(respondio.ProviderError) as caught:
            client.recent_messages("+24177010001")
        assert caught.value.retry_after == 1.0


def test_a_status_404_with_a_full_page_of_later_messages_keeps_asking(session, fake, client) -> None:  # noqa: ANN001
    recipient = sent_row(session, client)
    for i in range(100):  # a hundred later messages: ours is no longer on the first page
        client.send_text(recipient.phone, f"Message {i}")
    fake.fail_next(1, status=404, body={"code": 404, "message": "Message not found"})
    result = statuses.poll(session, client, delay_seconds=0, now=later(1))
    assert result["errors"] == 1 and row_of(session, recipient.id).status == "sent"
