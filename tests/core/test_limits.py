"""The messaging limit and the spending cap hold whatever the dispatchers do (core/limits.py), on both
databases, through the claim every dispatcher uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import campaign_review, campaigns, ledger, limits
from core.config import reload_settings
from core.errors import UserError
from core.models import AuditLog, Campaign, Recipient
from core.timeutil import utcnow
from tests.campaign_fixtures import make_audience, make_campaign


@pytest.fixture
def audience(session):  # noqa: ANN001, ANN201
    return make_audience(session, size=30)


def setting(monkeypatch, name: str, value: str) -> None:  # noqa: ANN001
    monkeypatch.setenv(name, value)
    reload_settings()


def claim_and_send(session, campaign_id: int, *, now=None) -> int:  # noqa: ANN001
    rows = ledger.claim(session, campaign_id, owner="w", limit=1000, lease_seconds=60, now=now)
    ledger.record(session, [ledger.Outcome(r.id, "sent", message_id=f"m{r.id}") for r in rows], owner="w", now=now)
    return len(rows)


def test_the_spending_cap_pauses_the_campaign_where_it_is_reached(session, audience) -> None:  # noqa: ANN001
    price = campaigns.price_per_message("UTILITY")
    campaign = campaigns.launch(session, make_campaign(session, audience, budget_fcfa=price * 5 + price / 2))
    assert claim_and_send(session, campaign.id) == 5  # 5.5 messages' worth: 5 leave
    assert claim_and_send(session, campaign.id) == 0
    assert campaign.status == "paused" and "Plafond de dépense atteint" in campaign.status_reason
    with pytest.raises(UserError, match="montant positif"):
        campaigns.set_budget(session, campaign, -1)
    campaigns.set_budget(session, campaign, price * 8)
    campaigns.resume(session, campaign)
    assert claim_and_send(session, campaign.id) == 3 and claim_and_send(session, campaign.id) == 0
    campaigns.set_budget(session, campaign, None)  # no cap: the rest leaves
    campaigns.resume(session, campaign)
    assert claim_and_send(session, campaign.id) == audience.reachable - len(audience.no_agency_ids) - 8  # the rest
    actions = session.scalars(select(AuditLog.action).where(AuditLog.action == "campaign_budget_changed")).all()
    assert len(actions) == 2


def test_the_messaging_limit_is_shared_and_continues_the_next_day(session, audience, monkeypatch) -> None:  # noqa: ANN001
    setting(monkeypatch, "MESSAGING_LIMIT", "8")
    first = campaigns.launch(session, make_campaign(session, audience))
    second = campaigns.launch(session, make_campaign(session, audience, name="Deuxième"))
    assert claim_and_send(session, first.id) == 8
    assert claim_and_send(session, second.id) == 0 and claim_and_send(session, first.id) == 0
    assert first.status == "running" and second.status == "running"  # they wait, they are not paused
    note = limits.progress_note(session, 20)
    assert note.startswith("Limite de messagerie WhatsApp (8 personnes par 24 h) : reprise vers le ")
    assert note.endswith("la campagne continuera pendant 3 jours de plus pour les 20 restantes.")
    assert limits.progress_note(session, 0) is None
    tomorrow = utcnow() + timedelta(hours=24, minutes=1)
    assert claim_and_send(session, second.id, now=tomorrow) == 8
    # The review says what the limit means for a campaign that does not fit.
    data = campaigns.CampaignInput(name="Plus tard", template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=None)
    review = campaign_review.review(session, data)
    [guard] = [g for g in review.guards if "Limite de messagerie" in g.text]
    assert not guard.ok and "la suite les jours suivants" in guard.text


def test_workers_claiming_at_once_do_not_pass_the_limit_together(db_url, monkeypatch) -> None:  # noqa: ANN001
    import threading

    from core import db

    setting(monkeypatch, "MESSAGING_LIMIT", "10")
    with db.session_scope() as session:
        audience = make_audience(session, size=40)
        campaign_id = campaigns.launch(session, make_campaign(session, audience)).id
    start = threading.Barrier(4)
    taken: list[int] = []

    def worker(owner: str) -> None:
        start.wait()
        with db.session_scope() as session:
            taken.append(len(ledger.claim(session, campaign_id, owner=owner, limit=6, lease_seconds=60)))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(taken) == 10 and len(taken) == 4
    with db.session_scope() as session:
        assert session.get(Campaign, campaign_id).status == "running"


def test_past_its_end_what_has_not_left_does_not_leave(session, audience) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match="La date de fin doit venir après le départ"):
        make_campaign(session, audience, name="Déjà finie", ends_at=utcnow() - timedelta(minutes=1))
    campaign = campaigns.launch(session, make_campaign(session, audience, ends_at=utcnow() + timedelta(hours=2)))
    rows = ledger.claim(session, campaign.id, owner="w", limit=4, lease_seconds=60)
    ledger.record(session, [ledger.Outcome(r.id, "sent", message_id=f"m{r.id}") for r in rows], owner="w")
    later = utcnow() + timedelta(hours=3)
    assert ledger.claim(session, campaign.id, owner="w", limit=1000, lease_seconds=60, now=later) == []
    statuses = session.scalars(select(Recipient.skip_reason).where(Recipient.campaign_id == campaign.id,
                                                                   Recipient.status == "skipped")).all()
    assert statuses.count("expired") == audience.reachable - len(audience.no_agency_ids) - 4
    assert campaigns.complete_if_done(session, campaign.id)
    assert session.scalar(select(AuditLog.details).where(AuditLog.action == "campaign_expired"))["recipients"] > 0


def test_a_cap_below_one_message_is_refused(session, audience) -> None:  # noqa: ANN001
    price = campaigns.price_per_message("UTILITY")
    with pytest.raises(UserError, match="ne couvre pas un seul message"):
        make_campaign(session, audience, budget_fcfa=price / 2)
    campaign = make_campaign(session, audience, budget_fcfa=price)
    with pytest.raises(UserError, match="ne couvre pas un seul message"):
        campaigns.set_budget(session, campaign, 1)
