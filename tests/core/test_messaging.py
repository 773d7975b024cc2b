"""Free text only inside the 24-hour window; what is accepted is recorded for the outbox, which
sends it after the commit (tests/workers/test_outbox.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import messaging
from core.errors import UserError
from core.models import Contact, OutboxMessage
from core.timeutil import utcnow


def contact(session, **kw) -> Contact:  # noqa: ANN001, ANN003
    c = Contact(phone="+24177280150", first_name="Awa", **kw)
    session.add(c)
    session.flush()
    return c


def test_text_inside_the_window_is_recorded_for_the_outbox(session) -> None:  # noqa: ANN001
    awa = contact(session, window_expires_at=utcnow() + timedelta(hours=3))
    message = messaging.send_text(session, awa, "  Bonjour, votre dossier est complet.  ")
    assert message.id and message.text == "Bonjour, votre dossier est complet." and message.status == "pending"
    item = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message.id))
    assert (item.kind, item.text, item.phone, item.purpose, item.status) == (
        "text", "Bonjour, votre dossier est complet.", "+24177280150", "agent_reply", "pending")


@pytest.mark.parametrize("changes, text, message", [
    ({}, "Bonjour", "fermée"),  # never wrote to CNSS: no window
    ({"window_expires_at": "closed"}, "Bonjour", "fermée depuis"),
    ({"window_expires_at": "open"}, "   ", "vide"),
    ({"window_expires_at": "open"}, "x" * 4097, "4096"),
    ({"window_expires_at": "open", "consent_status": "opted_out"}, "Bonjour", "désinscrite"),
])
def test_refusals_are_explained_and_record_nothing(session, changes, text, message) -> None:  # noqa: ANN001
    if changes.get("window_expires_at") == "open":
        changes["window_expires_at"] = utcnow() + timedelta(hours=1)
    elif changes.get("window_expires_at") == "closed":
        changes["window_expires_at"] = utcnow() - timedelta(minutes=1)
    awa = contact(session, **changes)
    with pytest.raises(UserError, match=message):
        messaging.send_text(session, awa, text)
    assert session.scalar(select(OutboxMessage)) is None
