"""État du système: what an administrator sees, and that nobody else opens it."""

from __future__ import annotations

import pytest

from tests.pages.conftest import app_as


def test_the_health_screen_shows_what_to_fix(seeded, redis_url: str) -> None:  # noqa: ANN001
    at = app_as(seeded["admin"]).run()
    at.switch_page("pages/health.py").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["1 point(s) à corriger : Workers."]
    text = " ".join(m.value for m in at.markdown)
    assert "Aucun worker enregistré" in text and "Base de données" in text


@pytest.mark.parametrize("role", ["manager", "supervisor", "agent"])
def test_only_administrators_open_the_health_screen(seeded, role: str) -> None:  # noqa: ANN001
    at = app_as(seeded[role]).run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/health.py")


def test_an_administrator_inspects_retries_and_discards_events_set_aside(seeded) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from core import db, inbound
    from core.models import AuditLog, WebhookEvent
    from core.timeutil import utcnow

    with db.session_scope() as session:
        for event_id in ("dl-a", "dl-b"):
            inbound.store(session, [inbound.Event(event_id, "contact.updated", {
                "event_type": "contact.updated", "contact": {"phone": "+24177990050", "firstName": "**Gras** <img>"}})])
        session.flush()
        for event in session.scalars(select(WebhookEvent)).all():
            event.processed_at = event.dead_at = utcnow()
            event.attempts, event.error = inbound.MAX_ATTEMPTS, "ValueError: refusé"
    at = app_as(seeded["admin"]).run()
    at.switch_page("pages/health.py").run()
    assert not at.exception
    assert any("Événements mis de côté" in e.value for e in at.error)
    assert at.dataframe[-1].value["Référence"].tolist() == ["dl-b", "dl-a"]
    body = at.code[0].value
    assert "+241******50" in body and "+24177990050" not in body and "**Gras** <img>" in body  # shown as text
    at.button(key="dl_retry_" + str(at.selectbox(key="dl_choice").value)).click().run()
    assert any("sera réappliqué" in s.value for s in at.success)
    at.button(key="dl_discard_" + str(at.selectbox(key="dl_choice").value)).click().run()
    assert any("est écarté" in s.value for s in at.success)
    assert any("Aucun événement mis de côté" in i.value for i in at.info) and not at.exception
    with db.session_scope() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.target_type == "webhook_event")).all()
        assert sorted(actions) == ["inbound_event_discarded", "inbound_event_retried"]
        assert inbound.pending_count(session) == 1
