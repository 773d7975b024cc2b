"""Sessions end where they must, in a real browser: an agent's inbox refreshes itself on a timer,
and an account disabled meanwhile is signed out at that refresh, with no click from anyone."""

from __future__ import annotations

import time

from core import db, users
from tests.e2e.test_journey import Journey, browser  # noqa: F401 - the module's browser fixture

PASSWORD = "Minuteur-2026-ok"


def test_a_disabled_agent_is_signed_out_by_the_inbox_refresh(running_app, browser) -> None:  # noqa: ANN001, F811
    with db.session_scope(running_app.database_url) as session:
        users.create(session, email="agent.minuteur@cnss.ga", name="Agent Minuteur", role="agent", password=PASSWORD)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    me = Journey(page, running_app.base)
    me.sign_in("agent.minuteur@cnss.ga", PASSWORD)
    me.open("Conversations")
    me.visible("En attente d'un agent")
    with db.session_scope(running_app.database_url) as session:  # an administrator disables the account
        users.disable(session, users.get_by_email(session, "agent.minuteur@cnss.ga"))
    started = time.monotonic()
    me.visible("Votre compte a été désactivé", timeout=30_000)  # the 10-second refresh, nobody clicking
    assert time.monotonic() - started < 30
    assert page.get_by_label("Adresse e-mail").count() == 1  # back on the sign-in screen
    page.close()
