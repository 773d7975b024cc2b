"""WhatsApp's failure codes as policies (core/policies.py), on both databases, through the paths a
failure really takes: the answer to a send (ledger.record) and a status polled later (statuses)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core import campaign_review, campaigns, ledger, segments, statuses, templates
from core.models import AuditLog, Campaign, Contact, Recipient, Template
from core.timeutil import utcnow
from tests.campaign_fixtures import TEMPLATE, make_audience, make_campaign


@pytest.fixture
def audience(session):  # noqa: ANN001, ANN201
    return make_audience(session, size=12)


def send(session, campaign: Campaign, failures: dict[int, str], *, now: datetime | None = None) -> list:  # noqa: ANN001
    """Claim every due row and answer: the n-th claimed row fails with `failures[n]`, the others are sent."""
    claimed = ledger.claim(session, campaign.id, owner="w", limit=1000, lease_seconds=60, now=now)
    ledger.record(session, [ledger.Outcome(r.id, "failed", error_code=failures[i]) if i in failures else
                            ledger.Outcome(r.id, "sent", message_id=f"m{campaign.id}-{r.id}")
                            for i, r in enumerate(claimed)], owner="w", now=now)
    return claimed


def launched(session, audience, **kw) -> Campaign:  # noqa: ANN001, ANN003
    return campaigns.launch(session, make_campaign(session, audience, **kw))


def actions(session, action: str) -> list[AuditLog]:  # noqa: ANN001
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_the_marketing_cap_is_tried_again_once_a_day_later(session, audience) -> None:  # noqa: ANN001
    campaign = launched(session, audience)
    claimed = send(session, campaign, {0: "131049"})
    row = session.get(Recipient, claimed[0].id)
    session.refresh(row)
    assert row.status == "pending" and row.error_code == "131049"
    assert row.next_attempt_at - utcnow() == pytest.approx(timedelta(hours=24), abs=timedelta(minutes=1))
    assert not campaigns.complete_if_done(session, campaign.id)  # the campaign waits for it
    assert ledger.claim(session, campaign.id, owner="w", limit=10, lease_seconds=60) == []  # not before its time
    tomorrow = utcnow() + timedelta(hours=24, minutes=1)
    again = send(session, campaign, {0: "131049"}, now=tomorrow)
    assert [r.id for r in again] == [row.id]
    session.refresh(row)
    assert row.status == "failed" and row.attempts == 2  # twice capped: final
    assert campaigns.complete_if_done(session, campaign.id)
    assert [a.details["recipients"] for a in actions(session, "campaign_marketing_cap_retry")] == [1]


def test_a_cap_polled_after_completion_reopens_the_campaign(session, audience) -> None:  # noqa: ANN001
    campaign = launched(session, audience)
    claimed = send(session, campaign, {})
    assert campaigns.complete_if_done(session, campaign.id)
    row = session.get(Recipient, claimed[3].id)
    assert statuses.apply(session, row, "failed", error_code="131049", error_message="cap")
    session.refresh(campaign)
    assert campaign.status == "running" and "plafond marketing de WhatsApp (131049)" in campaign.status_reason
    assert row.status == "pending" and actions(session, "campaign_reopened")


def test_a_person_who_refuses_marketing_still_gets_utility_messages(session, audience) -> None:  # noqa: ANN001
    marketing = templates.save(session, {**TEMPLATE, "name": "offre", "category": "MARKETING"})
    campaign = launched(session, audience)
    claimed = send(session, campaign, {})
    refuser = session.get(Recipient, claimed[1].id)
    # The status arrives later, by the poller's bulk path.
    changed, _ = statuses.apply_many(session, {refuser.provider_message_id: [
        ("failed", utcnow(), "131050", "Marketing refusé")]}, source="poll")
    assert changed == 1
    contact = session.get(Contact, refuser.contact_id)
    session.refresh(contact)
    assert contact.marketing_refused_at is not None and actions(session, "contact_marketing_refused")
    utility = segments.count_audience(session, [audience.segment_id])
    promo = segments.count_audience(session, [audience.segment_id], marketing=True)
    assert utility.reachable == audience.reachable and utility.marketing_refused == 0
    assert promo.reachable == audience.reachable - 1 and promo.marketing_refused == 1
    data = campaigns.CampaignInput(name="Offre", template_id=marketing.id, include_segment_ids=[audience.segment_id],
                                   quiet_hours=None)
    review = campaign_review.review(session, data)
    assert review.audience.marketing_refused == 1
    offer = campaigns.launch(session, campaigns.create(session, data))
    sent_to = set(session.scalars(select(Recipient.contact_id).where(Recipient.campaign_id == offer.id)))
    assert contact.id not in sent_to and len(sent_to) == audience.reachable - 1


def test_undeliverable_twice_marks_the_contact_not_on_whatsapp(session, audience) -> None:  # noqa: ANN001
    first = launched(session, audience)
    claimed = send(session, first, {0: "131026"})
    contact_id = session.get(Recipient, claimed[0].id).contact_id
    assert session.get(Contact, contact_id).not_on_whatsapp_at is None  # once is not enough
    second = launched(session, audience, name="Deuxième")
    second_rows = ledger.claim(session, second.id, owner="w", limit=1000, lease_seconds=60)
    target = next(r for r in second_rows if r.contact_id == contact_id)
    ledger.record(session, [ledger.Outcome(r.id, "failed", error_code="131026") if r.id == target.id else
                            ledger.Outcome(r.id, "sent", message_id=f"x{r.id}") for r in second_rows], owner="w")
    contact = session.get(Contact, contact_id)
    session.refresh(contact)
    assert contact.not_on_whatsapp_at is not None
    [marked] = actions(session, "contact_not_on_whatsapp")
    assert marked.details == {"code": "131026", "failures": 2}
    counted = segments.count_audience(session, [audience.segment_id])
    assert counted.not_on_whatsapp == 1 and counted.reachable == audience.reachable - 1
    third = launched(session, audience, name="Troisième")
    assert contact_id not in set(session.scalars(select(Recipient.contact_id).where(Recipient.campaign_id == third.id)))


def test_a_template_paused_by_whatsapp_pauses_its_campaigns(session, audience) -> None:  # noqa: ANN001
    campaign = launched(session, audience)
    other = launched(session, audience, name="Même modèle")
    send(session, campaign, {0: "132015"})
    template = session.get(Template, audience.template_id)
    for c in (campaign, other):
        session.refresh(c)
        assert c.status == "paused" and "mis en pause par WhatsApp (132015)" in c.status_reason
    assert template.status == "PAUSED"
    with pytest.raises(Exception, match="pas approuvé"):
        campaigns.create(session, campaigns.CampaignInput(name="Après", template_id=template.id,
                                                          include_segment_ids=[audience.segment_id]))


def test_other_codes_change_nothing(session, audience) -> None:  # noqa: ANN001
    campaign = launched(session, audience)
    claimed = send(session, campaign, {0: "131047", 1: "470"})
    assert {session.get(Recipient, r.id).status for r in claimed[:2]} == {"failed"}
    assert session.scalar(select(Contact).where(Contact.not_on_whatsapp_at.is_not(None))) is None
    assert session.scalar(select(Contact).where(Contact.marketing_refused_at.is_not(None))) is None


def test_only_a_manager_or_an_administrator_clears_a_mark(session, audience) -> None:  # noqa: ANN001
    from core.contacts import service
    from core.errors import UserError
    from tests.factories import make_user

    contact = session.scalar(select(Contact).limit(1))
    with pytest.raises(UserError, match="n'est pas marqué « pas sur WhatsApp »"):
        service.clear_whatsapp_mark(session, contact, "not_on_whatsapp", actor=make_user(session, "manager"))
    contact.not_on_whatsapp_at = utcnow()
    for role in ("agent", "supervisor"):
        with pytest.raises(UserError, match="Seuls les responsables"):
            service.clear_whatsapp_mark(session, contact, "not_on_whatsapp",
                                        actor=make_user(session, role, email=f"{role}@cnss.ga"))
    assert contact.not_on_whatsapp_at is not None
    service.clear_whatsapp_mark(session, contact, "not_on_whatsapp", actor=make_user(session, "admin",
                                                                                     email="admin@cnss.ga"))
    assert contact.not_on_whatsapp_at is None and actions(session, "contact_not_on_whatsapp_cleared")


def test_two_workers_recording_the_two_failures_at_once_still_mark_the_contact(db_url, monkeypatch) -> None:  # noqa: ANN001
    """Each worker has written its failure and not committed when both judge the person: the second
    to judge must see the first's failure (on PostgreSQL, by waiting for its lock on the contact)."""
    import threading

    from core import db, policies

    with db.session_scope() as session:
        audience = make_audience(session, size=6)
        rows = []
        for name in ("Un", "Deux"):
            campaign = launched(session, audience, name=name)
            rows.append(ledger.claim(session, campaign.id, owner=name, limit=100, lease_seconds=600))
    pairs = list(zip(rows[0], rows[1], strict=True))  # the same person in both campaigns
    start = threading.Barrier(2)
    if db_url.startswith("postgresql"):  # SQLite has one writer: the second waits at its first write
        judging = threading.Barrier(2, timeout=20)
        contacts_of = policies._contacts_of

        def both_written(session, ids):  # noqa: ANN001, ANN202
            judging.wait()
            return contacts_of(session, ids)

        monkeypatch.setattr(policies, "_contacts_of", both_written)
    errors: list[BaseException] = []

    def worker(owner: str, claimed: list) -> None:  # noqa: ANN001
        try:
            start.wait()
            with db.session_scope() as session:
                ledger.record(session, [ledger.Outcome(r.id, "failed", error_code="131026") for r in claimed],
                              owner=owner)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(owner, [p[i] for p in pairs]))
               for i, owner in enumerate(("Un", "Deux"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with db.session_scope() as session:
        marked = session.scalar(select(func.count()).select_from(Contact)
                                .where(Contact.not_on_whatsapp_at.is_not(None)))
        assert marked == len(pairs)


def test_the_marketing_cap_is_not_retried_after_the_campaign_s_end(session, audience) -> None:  # noqa: ANN001
    campaign = launched(session, audience, ends_at=utcnow() + timedelta(hours=12))  # a retry in 24 h is too late
    claimed = send(session, campaign, {0: "131049"})
    row = session.get(Recipient, claimed[0].id)
    session.refresh(row)
    assert row.status == "failed" and row.error_code == "131049"
    assert campaigns.complete_if_done(session, campaign.id)


def test_people_who_left_since_the_launch_are_skipped_not_sent(session, audience) -> None:  # noqa: ANN001
    from core.contacts import service

    marketing = templates.save(session, {**TEMPLATE, "name": "offre_speciale", "category": "MARKETING"})
    campaign = campaigns.launch(session, campaigns.create(session, campaigns.CampaignInput(
        name="Offre", template_id=marketing.id, include_segment_ids=[audience.segment_id], quiet_hours=None)))
    pending = session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id,
                                                      Recipient.status == "pending").order_by(Recipient.id)).all()
    stop, erased, off, refused = (session.get(Contact, r.contact_id) for r in pending[:4])
    service.set_consent(session, stop, "opted_out", reason="STOP", actor=None)
    service.erase(session, erased, reason="Demande", actor=None)
    off.not_on_whatsapp_at = refused.marketing_refused_at = utcnow()
    session.flush()
    claimed = ledger.claim(session, campaign.id, owner="w", limit=1000, lease_seconds=60)
    assert {c.contact_id for c in claimed}.isdisjoint({stop.id, erased.id, off.id, refused.id})
    reasons = dict(session.execute(select(Recipient.contact_id, Recipient.skip_reason).where(
        Recipient.campaign_id == campaign.id, Recipient.status == "skipped",
        Recipient.contact_id.in_([stop.id, erased.id, off.id, refused.id]))).all())
    assert reasons == {stop.id: "opted_out", erased.id: "erased", off.id: "not_on_whatsapp",
                       refused.id: "marketing_refused"}


def test_a_late_or_repeated_status_of_the_capped_message_leaves_the_retry_alone(session, audience) -> None:  # noqa: ANN001
    campaign = launched(session, audience)
    claimed = send(session, campaign, {})
    row = session.get(Recipient, claimed[2].id)
    old_id = row.provider_message_id
    failed = [("failed", utcnow(), "131049", "cap")]
    assert statuses.apply_many(session, {old_id: failed}, source="webhook")[0] == 1
    session.refresh(row)
    assert row.status == "pending" and row.provider_message_id is None
    # The same failure again (the poller after the webhook): it no longer matches the row.
    assert statuses.apply_many(session, {old_id: failed}, source="poll") == (0, set())
    tomorrow = utcnow() + timedelta(hours=24, minutes=1)
    again = ledger.claim(session, campaign.id, owner="w", limit=10, lease_seconds=60, now=tomorrow)
    assert [r.id for r in again] == [row.id]
    statuses.apply_many(session, {old_id: failed}, source="poll")  # even while it is being sent
    ledger.record(session, [ledger.Outcome(row.id, "sent", message_id="nouveau")], owner="w", now=tomorrow)
    session.refresh(row)
    assert (row.status, row.provider_message_id) == ("sent", "nouveau")
