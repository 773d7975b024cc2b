"""Statuses move forward only, out-of-order arrivals, failure proven wrong, and the poller."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import campaigns, ledger, statuses
from core.models import Recipient, StatusEvent
from core.respondio import Sandbox
from core.timeutil import utcnow
from tests.campaign_fixtures import make_audience, make_campaign


@pytest.fixture
def sent_row(session):  # noqa: ANN001, ANN201
    audience = make_audience(session, 5)
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    row = ledger.claim(session, campaign.id, owner="a", limit=1, lease_seconds=60)[0]
    ledger.record(session, [ledger.Outcome(row.id, "sent", message_id="m1")], owner="a")
    return session.get(Recipient, row.id)


@pytest.mark.parametrize("arrivals, final, code", [
    (["delivered", "read"], "read", None),
    (["read", "delivered"], "read", None),  # delivered after read changes nothing
    (["delivered", "sent"], "delivered", None),
    (["failed", "delivered"], "delivered", None),  # a later delivered proves the failure wrong
    (["read", "failed"], "read", None),
    (["failed"], "failed", "131026"),
])
def test_forward_only(session, sent_row, arrivals, final, code) -> None:  # noqa: ANN001
    t0 = utcnow()
    for i, status in enumerate(arrivals):
        statuses.apply(session, sent_row, status, at=t0 + timedelta(seconds=i),
                       error_code="131026" if status == "failed" else None, source="webhook")
    assert (sent_row.status, sent_row.error_code) == (final, code)
    if final == "read":
        assert sent_row.delivered_at is not None and sent_row.read_at is not None


def test_each_change_is_an_event_with_its_time(session, sent_row) -> None:  # noqa: ANN001
    t0 = utcnow()
    statuses.apply(session, sent_row, "delivered", at=t0 + timedelta(seconds=3))
    statuses.apply(session, sent_row, "delivered", at=t0 + timedelta(seconds=4))  # duplicate: nothing
    statuses.apply(session, sent_row, "read", at=t0 + timedelta(minutes=5))
    session.flush()
    events = session.scalars(select(StatusEvent).where(StatusEvent.recipient_id == sent_row.id)
                             .order_by(StatusEvent.id)).all()
    assert [e.status for e in events] == ["sent", "delivered", "read"]
    assert events[2].occurred_at - events[1].occurred_at == timedelta(minutes=5) - timedelta(seconds=3)


def test_poller_asks_the_provider_after_the_delay(session, sent_row) -> None:  # noqa: ANN001
    sandbox = Sandbox(delivery_seconds=0.0, read_seconds=0.0)
    message_id = sandbox.send_template(sent_row.phone, "t", "fr", [])
    sent_row.provider_message_id = message_id
    session.flush()
    assert statuses.poll(session, sandbox, delay_seconds=60)["polled"] == 0  # too early
    time.sleep(0.3)  # the sandbox delivers 0.2 s after sending at the earliest
    result = statuses.poll(session, sandbox, delay_seconds=0, now=utcnow() + timedelta(seconds=5))
    assert result["polled"] == 1 and sent_row.status in ("delivered", "read", "failed")
