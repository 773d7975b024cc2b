"""Approval by a second person before a campaign leaves (core/approval.py), on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core import approval, campaigns
from core.config import reload_settings
from core.errors import UserError
from core.models import AuditLog, Recipient
from tests.campaign_fixtures import make_audience
from tests.factories import make_user


@pytest.fixture
def audience(session):  # noqa: ANN001, ANN201
    return make_audience(session, size=20)


@pytest.fixture
def people(session):  # noqa: ANN001, ANN201
    return {"author": make_user(session, "manager"), "colleague": make_user(session, "manager", email="m2@cnss.ga"),
            "supervisor": make_user(session, "supervisor", email="sup@cnss.ga"),
            "admin": make_user(session, "admin", email="adm@cnss.ga"),
            "agent": make_user(session, "agent", email="ag@cnss.ga")}


def setting(monkeypatch, value: str) -> None:  # noqa: ANN001
    monkeypatch.setenv("CAMPAIGN_APPROVAL", value)
    reload_settings()


def draft(session, audience, author, name: str = "Paiement des pensions"):  # noqa: ANN001, ANN201
    data = campaigns.CampaignInput(name=name, template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    return campaigns.create(session, data, actor=author)


def actions(session, campaign_id: int) -> list[str]:  # noqa: ANN001
    return list(session.scalars(select(AuditLog.action).where(AuditLog.target_type == "campaign",
                                                              AuditLog.target_id == str(campaign_id))
                                .order_by(AuditLog.id)))


def test_without_the_setting_nothing_changes(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    setting(monkeypatch, "never")
    campaign = draft(session, audience, people["author"])
    assert campaigns.launch(session, campaign, actor=people["author"]).status == "running"


def test_a_second_person_approves_and_that_launches_it(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    setting(monkeypatch, "always")
    campaign = draft(session, audience, people["author"])
    with pytest.raises(UserError, match="doit être validée .* soumettez-la"):
        campaigns.launch(session, campaign, actor=people["author"])
    approval.submit(session, campaign, actor=people["author"])
    with pytest.raises(UserError, match="attend la validation"):
        campaigns.launch(session, campaign, actor=people["author"])
    with pytest.raises(UserError, match="attend déjà une validation"):
        approval.submit(session, campaign, actor=people["author"])
    # Not the author, not an agent, not a manager.
    for who, message in (("author", "Seuls les superviseurs"), ("agent", "Seuls les superviseurs"),
                         ("colleague", "Seuls les superviseurs")):
        with pytest.raises(UserError, match=message):
            approval.approve(session, campaign, actor=people[who])
    author_admin = make_user(session, "admin", email="auteur-admin@cnss.ga")
    own = draft(session, audience, author_admin, name="Préparée par un administrateur")
    approval.submit(session, own, actor=author_admin)
    with pytest.raises(UserError, match="Vous avez préparé ou modifié cette campagne"):
        approval.approve(session, own, actor=author_admin)
    assert campaign.status == "draft"
    approval.approve(session, campaign, actor=people["supervisor"], comment="Relu, dates vérifiées.")
    assert campaign.status == "running" and campaign.approval_status == "approved"
    assert campaign.decided_by == people["supervisor"].id and campaign.approval_comment == "Relu, dates vérifiées."
    assert session.scalar(select(Recipient.id).where(Recipient.campaign_id == campaign.id).limit(1)) is not None
    assert actions(session, campaign.id) == ["campaign_created", "campaign_submitted", "campaign_approved",
                                             "campaign_running"]
    with pytest.raises(UserError, match="n'attend pas de validation"):
        approval.approve(session, campaign, actor=people["admin"])


def test_a_rejection_says_why_and_an_edit_sends_it_back(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    setting(monkeypatch, "always")
    campaign = draft(session, audience, people["author"])
    approval.submit(session, campaign, actor=people["author"])
    with pytest.raises(UserError, match="Dites pourquoi"):
        approval.reject(session, campaign, actor=people["admin"], comment=" \u200b ")
    approval.reject(session, campaign, actor=people["admin"], comment="La date du 15\x00 est fausse.\n\u202eMerci")
    assert campaign.approval_status == "rejected" and campaign.status == "draft"
    assert campaign.approval_comment == "La date du 15 est fausse.\nMerci"  # lines kept, controls removed
    with pytest.raises(UserError, match="soumettez-la"):
        campaigns.launch(session, campaign, actor=people["author"])
    with pytest.raises(UserError, match="a été refusée : modifiez le brouillon"):  # not again unchanged
        approval.submit(session, campaign, actor=people["author"])
    data = campaigns.CampaignInput(name="Paiement des pensions (corrigé)", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    campaigns.update_draft(session, campaign, data, actor=people["author"])
    # Submitted again, then edited while it waits: the approval has to be asked again.
    approval.submit(session, campaign, actor=people["author"])
    campaigns.update_draft(session, campaign, data, actor=people["author"])
    assert campaign.approval_status is None
    with pytest.raises(UserError, match="n'attend pas de validation"):
        approval.approve(session, campaign, actor=people["supervisor"])
    assert "campaign_approval_reset" in actions(session, campaign.id)
    # A colleague who submits it cannot approve it either (an administrator who prepared it).
    approval.submit(session, campaign, actor=people["admin"])
    with pytest.raises(UserError, match="Vous avez préparé ou modifié cette campagne"):
        approval.approve(session, campaign, actor=people["admin"])
    approval.approve(session, campaign, actor=people["supervisor"])
    assert campaign.status == "running"


def test_above_a_number_of_recipients(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    setting(monkeypatch, str(audience.reachable))  # exactly as many: no approval
    small = draft(session, audience, people["author"])
    assert not approval.required(session, small)
    assert campaigns.launch(session, small, actor=people["author"]).status == "running"
    setting(monkeypatch, str(audience.reachable - 1))
    big = draft(session, audience, people["author"], name="Plus grande")
    assert approval.required(session, big)
    with pytest.raises(UserError, match="soumettez-la"):
        campaigns.launch(session, big, actor=people["author"])
    assert approval.rule().startswith(f"Une campagne de plus de {audience.reachable - 1} destinataires")


def test_two_approvers_at_once_launch_it_once(db_url, monkeypatch) -> None:  # noqa: ANN001
    import threading

    from core import db
    from core.models import Campaign, User

    setting(monkeypatch, "always")
    with db.session_scope() as session:
        audience = make_audience(session, size=20)
        author = make_user(session, "manager")
        approvers = [make_user(session, "supervisor", email="s1@cnss.ga").id,
                     make_user(session, "admin", email="a1@cnss.ga").id]
        campaign = draft(session, audience, author)
        approval.submit(session, campaign, actor=author)
        campaign_id = campaign.id
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def click(user_id: int) -> None:
        start.wait()
        try:
            with db.session_scope() as session:
                approval.approve(session, session.get(Campaign, campaign_id), actor=session.get(User, user_id))
            outcomes.append("approved")
        except UserError as err:
            outcomes.append(str(err))

    threads = [threading.Thread(target=click, args=(user_id,)) for user_id in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["Cette campagne n'attend pas de validation.", "approved"]
    with db.session_scope() as session:
        assert session.get(Campaign, campaign_id).status == "running"
        rows = session.scalar(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id))
        assert rows == audience.reachable


def test_the_test_group_receives_it_before_it_can_be_approved(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    from core import segments
    from core.models import Contact, OutboxMessage

    setting(monkeypatch, "always")
    monkeypatch.setenv("TEST_GROUP_SEGMENT", "Équipe communication")
    reload_settings()
    campaign = draft(session, audience, people["author"])
    approval.submit(session, campaign, actor=people["author"])
    with pytest.raises(UserError, match="« Équipe communication » .* n'existe pas"):
        approval.approve(session, campaign, actor=people["supervisor"])
    staff = [Contact(phone=f"+2410770000{i}", first_name=f"Agent{i}", consent_status="opted_in") for i in range(2)]
    session.add_all(staff)
    session.flush()
    group = segments.create(session, name="Équipe communication", kind="static")
    segments.add_members(session, group, [c.id for c in staff])
    with pytest.raises(UserError, match="doit d'abord recevoir le message"):
        approval.approve(session, campaign, actor=people["supervisor"])
    with pytest.raises(UserError, match="Seuls les responsables, les superviseurs"):
        approval.send_to_test_group(session, campaign, actor=people["agent"])
    assert approval.send_to_test_group(session, campaign, actor=people["supervisor"]) == 2
    with pytest.raises(UserError, match="vient de recevoir ce message"):  # a second click
        approval.send_to_test_group(session, campaign, actor=people["author"])
    sent = session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "campaign_test_group")).all()
    assert sorted(m.phone for m in sent) == sorted(c.phone for c in staff)
    # The message as the campaign's first recipient will read it (their name, their agency).
    assert {m.text for m in sent} == {
        "Bonjour Prénom1, déposez votre certificat de vie à Oyem avant le 31 janvier 2027."}
    assert approval.test_group_sent_at(session, campaign) is not None
    approval.approve(session, campaign, actor=people["supervisor"])
    assert campaign.status == "running"
    # Sent before a new submission does not count for it.
    again = draft(session, audience, people["author"], name="Deuxième")
    approval.submit(session, again, actor=people["author"])
    with pytest.raises(UserError, match="doit d'abord recevoir le message"):
        approval.approve(session, again, actor=people["admin"])


def test_whoever_edited_it_cannot_approve_it(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    setting(monkeypatch, "always")
    campaign = draft(session, audience, people["author"])
    data = campaigns.CampaignInput(name="Réécrite par l'administrateur", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    campaigns.update_draft(session, campaign, data, actor=people["admin"])
    approval.submit(session, campaign, actor=people["author"])
    assert approval.can_decide(session, campaign, people["admin"]) == (
        "Vous avez préparé ou modifié cette campagne : une autre personne doit la valider.")
    assert approval.can_decide(session, campaign, people["supervisor"]) is None
    with pytest.raises(UserError, match="1000 caractères"):
        approval.reject(session, campaign, actor=people["supervisor"], comment="x" * 1001)


def test_an_audience_grown_past_the_approval_goes_back_to_draft(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    from datetime import timedelta

    from core import segments
    from core.models import Contact
    from core.timeutil import utcnow

    setting(monkeypatch, str(audience.reachable))  # exactly the threshold: no approval needed yet
    start = utcnow() + timedelta(minutes=5)
    data = campaigns.CampaignInput(name="Programmée", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None, scheduled_at=start)
    campaign = campaigns.launch(session, campaigns.create(session, data, actor=people["author"]))
    assert campaign.status == "scheduled"
    newcomers = [Contact(phone=f"+2410661000{i}", first_name=f"Nouveau{i}", consent_status="opted_in")
                 for i in range(3)]
    session.add_all(newcomers)
    session.flush()
    segments.add_members(session, segments.get(session, audience.segment_id), [c.id for c in newcomers])
    assert campaigns.start_due(session, now=start + timedelta(minutes=1)) == []
    assert campaign.status == "draft" and "au-delà du seuil de validation" in campaign.status_reason
    assert session.scalar(select(Recipient.id).where(Recipient.campaign_id == campaign.id).limit(1)) is None
    # Approved for 23, then the audience grows again before the start: back to draft as well.
    setting(monkeypatch, "always")
    campaign.scheduled_at = utcnow() + timedelta(minutes=5)
    approval.submit(session, campaign, actor=people["author"])
    approval.approve(session, campaign, actor=people["supervisor"])
    assert campaign.status == "scheduled" and campaign.approved_recipients == audience.reachable + 3
    late = Contact(phone="+24106610099", first_name="Retard", consent_status="opted_in")
    session.add(late)
    session.flush()
    segments.add_members(session, segments.get(session, audience.segment_id), [late.id])
    assert campaigns.start_due(session, now=campaign.scheduled_at + timedelta(minutes=1)) == []
    assert campaign.status == "draft" and f"plus que les {audience.reachable + 3} approuvées" in campaign.status_reason
    assert campaign.approval_status is None
    assert "campaign_sent_back" in actions(session, campaign.id)


def test_a_submitted_campaign_whose_start_passed_is_not_approved(session, audience, people, monkeypatch) -> None:  # noqa: ANN001
    from datetime import timedelta

    from core.timeutil import utcnow

    setting(monkeypatch, "always")
    data = campaigns.CampaignInput(name="En retard", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None,
                                   scheduled_at=utcnow() + timedelta(minutes=5))
    campaign = campaigns.create(session, data, actor=people["author"])
    approval.submit(session, campaign, actor=people["author"])
    with pytest.raises(UserError, match="est passée : refusez-la en le disant"):
        approval.approve(session, campaign, actor=people["supervisor"], now=utcnow() + timedelta(hours=1))
    assert campaign.status == "draft"
