"""Campaign lifecycle, launch (ledger materialization), scheduling, quiet hours, ledger operations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core import campaigns, ledger, templates
from core.errors import UserError
from core.models import AuditLog, Campaign, Contact, Recipient, SegmentMember, StatusEvent, Template, User
from core.respondio import Sandbox
from core.timeutil import utcnow
from tests.campaign_fixtures import TEMPLATE, make_audience, make_campaign


@pytest.fixture
def audience(session):  # noqa: ANN001, ANN201
    return make_audience(session)


def rows(session, campaign_id: int) -> list[Recipient]:  # noqa: ANN001
    return list(session.scalars(select(Recipient).where(Recipient.campaign_id == campaign_id)
                                .order_by(Recipient.contact_id)).all())


def test_create_validates(session, audience) -> None:  # noqa: ANN001
    pending = templates.save(session, {**TEMPLATE, "name": "en_attente", "status": "PENDING"})
    cases = [
        (dict(template_id=pending.id), "pas approuvé"),
        (dict(include_segment_ids=[]), "au moins un segment"),
        (dict(include_segment_ids=[999]), "introuvable"),
        (dict(rate_limit=1000), "ne peut pas dépasser 80"),
        (dict(rate_limit=0), "au moins 1"),
        (dict(quiet_hours="22h-6h"), "HH:MM-HH:MM"),
        (dict(name="  "), "obligatoire"),
        (dict(variable_mapping={"1": {"source": "text", "text": "x"}}), "incomplète"),
    ]
    for changes, message in cases:
        data = campaigns.CampaignInput(**{"name": "C", "template_id": audience.template_id,
                                          "include_segment_ids": [audience.segment_id], **changes})
        with pytest.raises(UserError, match=message):
            campaigns.create(session, data)


def test_launch_freezes_the_audience_with_rendered_parameters(session, audience) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    assert campaign.status == "running" and campaign.total_recipients == audience.reachable
    ledger = rows(session, campaign.id)
    assert len(ledger) == audience.reachable
    assert not {r.contact_id for r in ledger} & set(audience.opted_out_ids)
    skipped = {r.contact_id: r.skip_reason for r in ledger if r.status == "skipped"}
    assert skipped == {cid: "missing_variable:2" for cid in audience.no_agency_ids}
    template = templates.as_dict(session.get(Template, audience.template_id))
    for r in ledger:
        contact = session.get(Contact, r.contact_id)
        expected = templates.render(template, TEMPLATE["variable_mapping"], templates.contact_values(contact))
        if expected.ok:
            assert r.status == "pending" and r.parameters == expected.parameters, r.contact_id
        assert r.phone == contact.phone
    with pytest.raises(IntegrityError):  # one row per (campaign, contact), ever
        with session.begin_nested():
            campaigns.materialize(session, campaign)


def test_transitions_are_enforced_and_audited(session, audience) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience)
    with pytest.raises(UserError, match="ne peut pas passer"):
        campaigns.pause(session, campaign)
    with pytest.raises(UserError, match="pause peut reprendre"):
        campaigns.resume(session, campaign)
    campaigns.launch(session, campaign)
    campaigns.pause(session, campaign)
    campaigns.resume(session, campaign)
    campaigns.cancel(session, campaign, reason="Erreur de date")
    assert campaign.status == "cancelled" and campaign.status_reason == "Erreur de date"
    with pytest.raises(UserError):
        campaigns.resume(session, campaign)
    with pytest.raises(UserError, match="brouillon"):
        campaigns.launch(session, campaign)
    actions = session.scalars(select(AuditLog.action).where(AuditLog.target_type == "campaign")
                              .order_by(AuditLog.id)).all()
    assert actions == ["campaign_created", "campaign_running", "campaign_paused", "campaign_running",
                       "campaign_cancelled"]
    assert session.scalar(select(func.count()).select_from(Recipient)
                          .where(Recipient.status == "pending")) > 0  # cancel leaves them unsent


def test_scheduled_campaign_starts_once_when_due(session, audience) -> None:  # noqa: ANN001
    at = utcnow() + timedelta(hours=2)
    campaign = make_campaign(session, audience, scheduled_at=at)
    campaigns.launch(session, campaign)
    assert campaign.status == "scheduled" and rows(session, campaign.id) == []
    assert campaigns.start_due(session, now=at - timedelta(minutes=1)) == []
    assert campaigns.start_due(session, now=at + timedelta(seconds=1)) == [campaign.id]
    assert campaigns.start_due(session, now=at + timedelta(seconds=2)) == []
    session.refresh(campaign)
    assert campaign.status == "running" and len(rows(session, campaign.id)) == audience.reachable


@pytest.mark.parametrize("utc_hour, quiet", [(19, True), (7, False), (6, True), (12, False), (18, False)])
def test_quiet_hours_are_in_libreville_time(session, audience, utc_hour, quiet) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience, quiet_hours="20:00-08:00")
    now = datetime(2026, 11, 25, utc_hour, 30, tzinfo=UTC)  # Libreville is UTC+1
    assert campaigns.in_quiet_hours(campaign, now) is quiet
    if quiet:
        assert campaigns.quiet_hours_end(campaign, now).astimezone(UTC).hour == 7


def test_estimate_counts_cost_and_duration(session, audience) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience, rate_limit=10)
    estimate = campaigns.estimate(session, campaign)
    assert estimate.audience.reachable == audience.reachable
    assert estimate.audience.opted_out == len(audience.opted_out_ids)
    assert estimate.cost_fcfa == audience.reachable * 12 and estimate.duration_seconds == audience.reachable / 10


def test_claim_record_and_leases(session, audience) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    first = ledger.claim(session, campaign.id, owner="a", limit=10, lease_seconds=60)
    second = ledger.claim(session, campaign.id, owner="b", limit=10, lease_seconds=60)
    assert len(first) == len(second) == 10 and not {r.id for r in first} & {r.id for r in second}
    assert all(r.attempts == 1 and r.parameters["body"] for r in first)
    # only the lease owner records an outcome
    assert ledger.record(session, [ledger.Outcome(first[0].id, "sent", message_id="m1")], owner="b") == 0
    outcomes = [ledger.Outcome(first[0].id, "sent", message_id="m1"),
                ledger.Outcome(first[1].id, "failed", error_code="131026", error_message="non distribuable"),
                ledger.Outcome(first[2].id, "retry", error_code="http_500", retry_at=utcnow() + timedelta(hours=1)),
                ledger.Outcome(first[3].id, "requeue", error_code="132000")]
    assert ledger.record(session, outcomes, owner="a") == 4
    by_id = {r.id: r for r in rows(session, campaign.id)}
    assert (by_id[first[0].id].status, by_id[first[0].id].provider_message_id) == ("sent", "m1")
    assert (by_id[first[1].id].status, by_id[first[1].id].error_code) == ("failed", "131026")
    assert by_id[first[2].id].status == "pending" and by_id[first[2].id].next_attempt_at is not None
    assert (by_id[first[3].id].status, by_id[first[3].id].attempts) == ("pending", 0)
    # one event per outcome written, none for the one refused to another owner
    events = session.execute(select(StatusEvent.recipient_id, StatusEvent.status, StatusEvent.provider_message_id,
                                    StatusEvent.error_code).order_by(StatusEvent.recipient_id)).all()
    assert [tuple(e) for e in events] == [(first[0].id, "sent", "m1", None), (first[1].id, "failed", None, "131026")]
    again = {r.id for r in ledger.claim(session, campaign.id, owner="c", limit=100, lease_seconds=60)}
    assert first[2].id not in again and first[3].id in again  # retry waits for its time


def test_reconciliation_of_abandoned_sends(session, audience) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    claimed = ledger.claim(session, campaign.id, owner="dead", limit=2, lease_seconds=1)
    sandbox = Sandbox()
    sandbox.send_template(claimed[0].phone, TEMPLATE["name"], "fr", [])  # it did reach the provider
    later = utcnow() + timedelta(seconds=5)
    result = ledger.reconcile_expired(session, sandbox, now=later)
    assert (result.checked, result.found, result.requeued, result.postponed) == (2, 1, 1, 0)
    by_id = {r.id: r for r in rows(session, campaign.id)}
    assert by_id[claimed[0].id].status == "sent" and by_id[claimed[0].id].provider_message_id
    assert by_id[claimed[1].id].status == "pending"


def test_completion_and_retarget(session, audience) -> None:  # noqa: ANN001
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    claimed = ledger.claim(session, campaign.id, owner="a", limit=1000, lease_seconds=60)
    outcomes = [ledger.Outcome(r.id, "failed" if i % 4 == 0 else "sent", message_id=str(i), error_code="131026")
                for i, r in enumerate(claimed)]
    ledger.record(session, outcomes, owner="a")
    assert campaigns.complete_if_done(session, campaign.id) and campaign.status == "completed"
    progress = campaigns.progress(session, campaign.id)
    assert progress.counts["failed"] == len(claimed[::4]) and progress.total == audience.reachable
    assert campaigns.failures_by_code(session, campaign.id) == [("131026", len(claimed[::4]))]
    draft = campaigns.retarget(session, campaign, "failed")
    assert draft.status == "draft" and draft.parent_campaign_id == campaign.id
    assert campaigns.estimate(session, draft).audience.reachable == len(claimed[::4])
    with pytest.raises(UserError, match="Aucun destinataire"):
        campaigns.retarget(session, session.get(Campaign, draft.id), "not_read")


def test_retargeting_waits_for_statuses_to_settle(session, audience) -> None:  # noqa: ANN001
    """Right after sending, "sent" is not "not delivered": only messages sent more than
    RETARGET_SETTLE_HOURS ago are retargeted, failures at once; the others are counted as left out."""
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    claimed = ledger.claim(session, campaign.id, owner="a", limit=1000, lease_seconds=60)
    assert len(claimed) >= 6
    failed, old, recent = claimed[:2], claimed[2:4], claimed[4:]
    ledger.record(session, [ledger.Outcome(r.id, "failed" if r in failed else "sent", message_id=str(r.id),
                                           error_code="131026" if r in failed else None) for r in claimed],
                  owner="a")
    two_days_ago = utcnow() - timedelta(days=2)
    session.execute(update(Recipient).where(Recipient.id.in_([r.id for r in [*failed, *old]]))
                    .values(sent_at=two_days_ago))
    counts = campaigns.retarget_counts(session, campaign.id)
    assert (counts["not_delivered"].settled, counts["not_delivered"].recent) == (4, len(recent))
    assert (counts["not_read"].settled, counts["not_read"].recent) == (2, len(recent))
    assert (counts["failed"].settled, counts["failed"].recent) == (2, 0)
    draft = campaigns.retarget(session, campaign, "not_delivered")
    taken = set(session.scalars(select(SegmentMember.contact_id).where(
        SegmentMember.segment_id == draft.include_segment_ids[0])))
    assert taken == {r.contact_id for r in [*failed, *old]}
    details = session.scalar(select(AuditLog.details).where(AuditLog.target_id == str(draft.id),
                                                            AuditLog.action == "campaign_created"))
    assert details["left_out_recent"] == len(recent)
    # A day later everything has settled.
    later = campaigns.retarget_counts(session, campaign.id, now=utcnow() + timedelta(days=1, minutes=1))
    assert (later["not_delivered"].settled, later["not_delivered"].recent) == (len(claimed), 0)
    # When only recent messages remain, the refusal says until when to wait.
    session.execute(update(Recipient).where(Recipient.campaign_id == campaign.id).values(sent_at=utcnow()))
    with pytest.raises(UserError, match=r"Aucun destinataire « non lus » depuis plus de 24 h : les \d+ envois plus "
                                        r"récents peuvent encore changer de statut\. Réessayez après le \d\d/"):
        campaigns.retarget(session, campaign, "not_read")


def test_a_start_date_in_the_past_is_refused_in_french(session, audience) -> None:  # noqa: ANN001
    yesterday = utcnow() - timedelta(days=1)
    with pytest.raises(UserError, match=r"La date de départ \(\d\d/\d\d/\d{4} à \d\d:\d\d\) est passée"):
        make_campaign(session, audience, scheduled_at=yesterday)
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0  # nothing half-written
    # The current minute is "now", not the past.
    assert make_campaign(session, audience, scheduled_at=utcnow() - timedelta(seconds=20)).status == "draft"
    # A draft saved for a time that has gone by is not launched as if nothing happened.
    draft = make_campaign(session, audience, name="Brouillon d'hier", scheduled_at=utcnow() + timedelta(minutes=5))
    with pytest.raises(UserError, match="est passée.*Modifiez le brouillon"):
        campaigns.launch(session, draft, now=utcnow() + timedelta(hours=1))
    assert draft.status == "draft" and rows(session, draft.id) == []


def test_the_same_campaign_by_the_same_person_is_created_once(session, audience) -> None:  # noqa: ANN001
    from tests.factories import make_user

    manager, other = make_user(session, "manager"), make_user(session, "manager", email="autre@cnss.ga")
    data = campaigns.CampaignInput(name="Paiement  des pensions", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    first = campaigns.create(session, data, actor=manager)
    campaigns.launch(session, first, actor=manager)
    again = campaigns.CampaignInput(**{**data.__dict__, "name": "Paiement des pensions "})  # same once trimmed
    with pytest.raises(UserError, match=rf"vient d'être créée \(n° {first.id}, « Paiement des pensions », en cours\)"):
        campaigns.create(session, again, actor=manager)
    # What is not a second click goes through: another audience, another name, another person,
    # the command line, or after the first was cancelled.
    other_audience = {**data.__dict__, "exclude_segment_ids": [audience.segment_id]}
    campaigns.create(session, campaigns.CampaignInput(**other_audience), actor=manager)
    campaigns.create(session, campaigns.CampaignInput(**{**data.__dict__, "name": "Paiement (2)"}), actor=manager)
    campaigns.create(session, data, actor=other)
    campaigns.create(session, data)
    campaigns.cancel(session, first, actor=manager)
    campaigns.create(session, data, actor=manager)
    # ... or long after.
    assert campaigns.recent_duplicate(session, data, manager, now=utcnow() + campaigns.DUPLICATE_WINDOW * 2) is None


def test_invisible_characters_and_case_do_not_make_another_campaign(session, audience) -> None:  # noqa: ANN001
    from tests.factories import make_user

    manager = make_user(session, "manager")
    data = campaigns.CampaignInput(name="Rappel mars", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    first = campaigns.create(session, data, actor=manager)
    for twin in ("Rappel\u200b mars", "\u2066RAPPEL MARS\u2069", "Rappel \u00admars", "rappel\tmars"):
        with pytest.raises(campaigns.DuplicateCampaign, match=f"n° {first.id}") as refused:
            campaigns.create(session, campaigns.CampaignInput(**{**data.__dict__, "name": twin}), actor=manager)
        assert refused.value.campaign_id == first.id
    # A name of invisible characters only is no name; what is kept is what can be read.
    for invisible in ("\u200b", "\u200d\u2060", "\u202e", "\x00\x07"):
        with pytest.raises(UserError, match="nom de la campagne est obligatoire"):
            campaigns.create(session, campaigns.CampaignInput(**{**data.__dict__, "name": invisible}), actor=manager)
    other = campaigns.create(session, campaigns.CampaignInput(**{**data.__dict__, "name": "Rappel\u200b avril\u202e"}),
                             actor=manager)
    assert other.name == "Rappel avril"


def test_a_draft_edited_into_a_campaign_just_made_is_refused(session, audience) -> None:  # noqa: ANN001
    from tests.factories import make_user

    manager = make_user(session, "manager")
    data = campaigns.CampaignInput(name="Paiement avril", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    launched = campaigns.launch(session, campaigns.create(session, data, actor=manager), actor=manager)
    draft = campaigns.create(session, campaigns.CampaignInput(**{**data.__dict__, "name": "Brouillon"}), actor=manager)
    with pytest.raises(campaigns.DuplicateCampaign, match=f"n° {launched.id}.*pas enregistrée une seconde fois"):
        campaigns.update_draft(session, draft, data, actor=manager)
    assert draft.name == "Brouillon"
    # Saving a draft again as it is is not a duplicate of itself.
    same = campaigns.CampaignInput(**{**data.__dict__, "name": "Brouillon"})
    assert campaigns.update_draft(session, draft, same, actor=manager).name == "Brouillon"


def test_two_tabs_launching_the_same_campaign_at_once_make_one(db_url) -> None:  # noqa: ANN001
    """Eight sessions of the same person create and launch the same campaign at the same instant:
    creations are serialised, one campaign is created and started, the others are told why."""
    import threading

    from core import db
    from tests.factories import make_user

    with db.session_scope() as session:
        audience = make_audience(session)
        manager_id = make_user(session, "manager").id
    data = campaigns.CampaignInput(name="Double clic", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def click() -> None:
        start.wait()
        try:
            with db.session_scope() as session:
                actor = session.get(User, manager_id)
                campaigns.launch(session, campaigns.create(session, data, actor=actor), actor=actor)
            outcomes.append("launched")
        except UserError as err:
            outcomes.append(str(err))

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert outcomes.count("launched") == 1 and len(outcomes) == 8
    assert all("vient d'être créée" in o for o in outcomes if o != "launched")
    with db.session_scope() as session:
        made = session.scalars(select(Campaign).where(Campaign.name == "Double clic")).all()
        assert [c.status for c in made] == ["running"]
        assert len(rows(session, made[0].id)) == audience.reachable


@pytest.mark.parametrize("local_time, quiet, expected", [
    ("06:16", ("20:00", "08:00"), "2026-12-03 08:00"),  # launched at dawn: waits for 08:00 the same day
    ("21:30", ("20:00", "08:00"), "2026-12-04 08:00"),  # in the evening: the next morning
    ("09:00", ("20:00", "08:00"), "2026-12-03 09:00"),  # outside: at once
    ("13:00", ("12:00", "14:00"), "2026-12-03 14:00"),  # a midday break
    ("06:16", None, "2026-12-03 06:16"),
])
def test_the_first_send_waits_for_the_end_of_the_quiet_hours(local_time, quiet, expected) -> None:  # noqa: ANN001
    from core.timeutil import local_tz

    at = datetime.fromisoformat(f"2026-12-03 {local_time}").replace(tzinfo=local_tz())
    assert campaigns.first_send_at(quiet, at.astimezone(UTC)).astimezone(local_tz()).strftime(
        "%Y-%m-%d %H:%M") == expected


def test_a_quiet_hour_that_is_not_a_time_is_named() -> None:
    assert campaigns.quiet_time_error("20:00") is None and campaigns.quiet_time_error(" 08:00 ") is None
    for bad in ("25:00", "8h", "20:60", "", "2000"):
        assert f"« {bad} » n'est pas une heure" in campaigns.quiet_time_error(bad)


def test_bad_names_and_hours_are_refused_in_french(session, audience) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="dépasse 200 caractères"):
        make_campaign(session, audience, name="x" * 201)
    for hours in ("1\u0669:00-08:00", "20:00-\u0660\u0668:00"):  # Arabic-Indic digits
        with pytest.raises(UserError, match="format HH:MM-HH:MM"):
            make_campaign(session, audience, name=f"Heures {hours!r}", quiet_hours=hours)
    assert campaigns.quiet_time_error("1\u0669:00") is not None


def test_a_segment_a_campaign_still_needs_cannot_be_deleted(session, audience) -> None:  # noqa: ANN001
    from core import segments

    draft = make_campaign(session, audience)
    segment = segments.get(session, audience.segment_id)
    with pytest.raises(UserError, match=rf"sert à 1 campagne non terminée \(n° {draft.id} « Certificats de vie »\)"):
        segments.delete(session, segment)
    campaigns.cancel(session, draft)
    segments.delete(session, segment)
