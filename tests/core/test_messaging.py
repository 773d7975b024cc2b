"""Free text only inside the 24-hour window, through the sandbox and through Respond.io."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import messaging
from core.errors import UserError
from core.models import Contact
from core.respondio import RespondIO
from core.timeutil import utcnow


def contact(session, **kw) -> Contact:  # noqa: ANN001, ANN003
    c = Contact(phone="+24177280150", first_name="Awa", **kw)
    session.add(c)
    session.flush()
    return c


def test_text_inside_the_window_is_sent_and_recorded(session) -> None:  # noqa: ANN001
    awa = contact(session, window_expires_at=utcnow() + timedelta(hours=3))
    message = messaging.send_text(session, awa, "  Bonjour, votre dossier est complet.  ")
    assert message.id and message.text == "Bonjour, votre dossier est complet." and message.provider_message_id


def test_text_outside_the_window_is_refused_before_any_request(session, fake_respondio) -> None:  # noqa: ANN001
    awa = contact(session, window_expires_at=utcnow() - timedelta(minutes=1))
    provider = RespondIO(fake_respondio.token, base_url=fake_respondio.base_url, channel_id=fake_respondio.channel_id)
    with pytest.raises(UserError, match="fenêtre de 24 heures est fermée"):
        messaging.send_text(session, awa, "Bonjour", provider=provider)
    assert fake_respondio.requests == []
    awa.window_expires_at = utcnow() + timedelta(hours=1)
    messaging.send_text(session, awa, "Bonjour", provider=provider)
    assert fake_respondio.accepted[0].message == {"type": "text", "text": "Bonjour"}


@pytest.mark.parametrize("changes, text, message", [
    ({}, "Bonjour", "fermée"),  # never wrote to CNSS: no window
    ({"window_expires_at": "open"}, "   ", "vide"),
    ({"window_expires_at": "open", "consent_status": "opted_out"}, "Bonjour", "désinscrite"),
])
def test_refusals_are_explained(session, changes, text, message) -> None:  # noqa: ANN001
    if changes.get("window_expires_at") == "open":
        changes["window_expires_at"] = utcnow() + timedelta(hours=1)
    awa = contact(session, **changes)
    with pytest.raises(UserError, match=message):
        messaging.send_text(session, awa, text)
