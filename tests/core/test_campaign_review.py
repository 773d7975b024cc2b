"""The review shown before a launch: computed by the launch's own rules, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core import audit, campaign_review, campaigns, ledger, segments
from core.errors import UserError
from core.models import Contact, Recipient, Template
from core.timeutil import utcnow
from tests.campaign_fixtures import make_audience, make_campaign
from tests.factories import make_user


@pytest.fixture
def audience(session):  # noqa: ANN001, ANN201
    return make_audience(session)


def data_for(audience, **kw) -> campaigns.CampaignInput:  # noqa: ANN001, ANN003
    return campaigns.CampaignInput(**{"name": "Certificats de vie", "template_id": audience.template_id,
                                      "include_segment_ids": [audience.segment_id], "quiet_hours": None, **kw})


def test_the_review_counts_what_the_launch_will_do(session, audience) -> None:  # noqa: ANN001
    first_ten = session.scalars(select(Contact.id).order_by(Contact.id).limit(10)).all()
    early = segments.create(session, name="Les dix premiers", kind="static")
    segments.add_members(session, early, first_ten)
    review = campaign_review.review(session, data_for(audience, exclude_segment_ids=[early.id]))
    # 40 contacts, 3 opted out (one of them among the first ten), 10 excluded, 6 without an agency
    # (variable {{2}}), 2 of them among the first ten.
    assert review.included == [("Audience test", audience.reachable)]
    assert review.excluded == [("Les dix premiers", 9)]
    assert review.audience.reachable == audience.reachable - 9
    assert review.missing == [("2", 4)] and review.recipients == audience.reachable - 9 - 4
    # The launch agrees.
    campaign = campaigns.launch(session, make_campaign(session, audience, exclude_segment_ids=[early.id]))
    pending = session.scalars(select(Recipient.status).where(Recipient.campaign_id == campaign.id)).all()
    assert pending.count("pending") == review.recipients and pending.count("skipped") == 4
    assert review.cost_fcfa == review.recipients * campaigns.price_per_message("UTILITY")


def test_the_first_recipients_read_their_own_message(session, audience) -> None:  # noqa: ANN001
    review = campaign_review.review(session, data_for(audience))
    assert len(review.samples) == campaign_review.SAMPLES
    first, second = review.samples[0], review.samples[1]
    # The very first contact has no agency: skipped, and said why.
    assert first.message is None and first.skip_reason == "missing_variable:2"
    assert second.message == "Bonjour Prénom1, déposez votre certificat de vie à Oyem avant le 31 janvier 2027."
    assert second.phone == "+24177010001" and second.name == "Prénom1 Nom1"


@pytest.mark.parametrize("local_start, seconds, expected", [
    ("2026-12-08 10:00", 3600, "2026-12-08 11:00"),  # within the day
    ("2026-12-08 19:00", 7200, "2026-12-09 09:00"),  # an hour before 20:00, the second hour the next morning
    ("2026-12-08 06:00", 1800, "2026-12-08 08:30"),  # begins at the end of the night
    ("2026-12-08 08:00", 3 * 12 * 3600, "2026-12-10 20:00"),  # three days of twelve hours: ends at 20:00
    ("2026-12-08 10:00", 3 * 12 * 3600, "2026-12-11 10:00"),  # the same begun at 10:00
])
def test_sending_stops_through_quiet_hours(local_start, seconds, expected) -> None:  # noqa: ANN001
    from core.timeutil import local_tz

    start = datetime.strptime(local_start, "%Y-%m-%d %H:%M").replace(tzinfo=local_tz()).astimezone(UTC)
    finish = campaign_review.finish_at(("20:00", "08:00"), start, seconds)
    assert f"{finish.astimezone(local_tz()):%Y-%m-%d %H:%M}" == expected
    assert campaign_review.finish_at(None, start, seconds) == start + timedelta(seconds=seconds)


def test_the_duration_uses_the_rate_the_provider_really_gave(session, audience) -> None:  # noqa: ANN001
    assert campaign_review.observed_rate(session, at_least=20) is None  # nothing sent yet
    campaign = campaigns.launch(session, make_campaign(session, audience))
    claimed = ledger.claim(session, campaign.id, owner="a", limit=1000, lease_seconds=60)
    ledger.record(session, [ledger.Outcome(r.id, "sent", message_id=str(r.id)) for r in claimed], owner="a")
    # Too few sends in the busiest minute to tell a rate.
    assert campaign_review.observed_rate(session, at_least=20) is None
    minute = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=5)
    monkey = campaign_review.OBSERVED_MIN_PER_MINUTE
    try:
        campaign_review.OBSERVED_MIN_PER_MINUTE = 12
        session.execute(update(Recipient).where(Recipient.id.in_([r.id for r in claimed])).values(sent_at=minute))
        assert campaign_review.observed_rate(session, at_least=20) == round(len(claimed) / 60, 1)
        # A campaign held at 1 message/s says nothing of a campaign at 20.
        campaign.rate_limit = 1
        session.flush()
        assert campaign_review.observed_rate(session, at_least=20) is None
        campaign.rate_limit = None
        session.flush()
        review = campaign_review.review(session, data_for(audience, name="Autre", rate_limit=20))
        assert review.observed_rate == round(len(claimed) / 60, 1)
        assert review.duration_seconds == pytest.approx(review.recipients / review.observed_rate)
    finally:
        campaign_review.OBSERVED_MIN_PER_MINUTE = monkey


def test_the_guards(session, audience) -> None:  # noqa: ANN001
    manager = make_user(session, "manager")
    review = campaign_review.review(session, data_for(audience), actor=manager)
    assert not review.blocked
    assert [g.ok for g in review.guards] == [True, True, True, False]  # no test send yet
    assert "Aucun envoi de test" in review.guards[-1].text
    # A start in the past blocks, with the same French message as the launch.
    past = campaign_review.review(session, data_for(audience, scheduled_at=utcnow() - timedelta(days=1)), actor=manager)
    assert past.blocked and "est passée" in past.guards[0].text
    # A test send of the template counts; the same campaign just created blocks; a template already
    # used by a running campaign is said.
    audit.record(session, "template_test_sent", actor=manager, target_type="template", target_id=audience.template_id)
    campaigns.launch(session, campaigns.create(session, data_for(audience), actor=manager), actor=manager)
    again = campaign_review.review(session, data_for(audience), actor=manager)
    texts = [g.text for g in again.guards]
    assert again.blocked and any("Vous venez de créer cette campagne" in t for t in texts)
    assert any(t.startswith("Envoi de test de ce modèle le ") for t in texts)
    assert any("déjà utilisé par 1 campagne en cours ou programmée" in t for t in texts)
    # An audience of nobody blocks.
    nobody = segments.create(session, name="Vide", kind="static")
    empty = campaign_review.review(session, data_for(audience, name="Vide", include_segment_ids=[nobody.id]),
                                   actor=manager)
    assert empty.recipients == 0 and empty.blocked


def test_who_would_get_a_second_message_and_leaving_them_out(session, audience) -> None:  # noqa: ANN001
    first = campaigns.launch(session, make_campaign(session, audience))
    claimed = ledger.claim(session, first.id, owner="a", limit=5, lease_seconds=60)
    ledger.record(session, [ledger.Outcome(r.id, "sent", message_id=str(r.id)) for r in claimed], owner="a")
    review = campaign_review.review(session, data_for(audience, name="Deuxième"))
    assert (review.overlap.people, review.overlap.same_template, review.overlap.days) == (5, 5, 7)
    assert [row[2] for row in review.overlap.sample] == ["Certificats de vie"] * 5 and not review.overlap.left_out
    # Left out: the review counts them out, and so does the launch.
    leave_out = data_for(audience, name="Deuxième", exclude_recent_days=7)
    review = campaign_review.review(session, leave_out)
    assert review.overlap.left_out and review.overlap.people == 5
    assert review.audience.reachable == audience.reachable - 5
    second = campaigns.launch(session, campaigns.create(session, leave_out))
    sent_to = set(session.scalars(select(Recipient.contact_id).where(Recipient.campaign_id == second.id)))
    assert not sent_to & {r.contact_id for r in claimed} and len(sent_to) == audience.reachable - 5
    # A message older than the period does not count.
    later = campaign_review.overlap(session, data_for(audience), session.get(Template, audience.template_id),
                                   now=utcnow() + timedelta(days=8))
    assert later.people == 0
    with pytest.raises(UserError, match="de 1 à 365 jours"):
        campaigns.create(session, data_for(audience, name="X", exclude_recent_days=0))
