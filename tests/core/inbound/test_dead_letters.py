"""core.inbound.dead_letters: an event failing every try is set aside, then retried or discarded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import inbound
from core.models import AuditLog
from tests.core.inbound import received


@pytest.fixture
def boum_refused(session):  # noqa: ANN001, ANN201
    """The database refuses to apply a contact named Boum, whatever the try (a trigger)."""
    from sqlalchemy import text

    refuse_contact_named(session, "Boum")
    yield
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER IF EXISTS refuse_Boum ON contacts"))
        session.execute(text("DROP FUNCTION IF EXISTS refuse_Boum()"))
        session.commit()


def test_an_event_failing_every_try_is_set_aside_then_retried_or_discarded(session, boum_refused) -> None:  # noqa: ANN001
    from core import health
    from core.errors import UserError

    bad = inbound.Event("dl-1", "contact.updated", {"event_type": "contact.updated",
                                                    "contact": {"phone": "+24177990040", "firstName": "Boum"}})
    inbound.store(session, [bad, received("dl-ok", "+24177990041", "Bonjour")])
    for _ in range(inbound.MAX_ATTEMPTS):
        inbound.process_pending(session)
    assert inbound.dead_letter_count(session) == 1 and inbound.pending_count(session) == 0
    event = inbound.dead_letters(session)[0]
    assert event.event_id == "dl-1" and event.error and event.dead_at is not None
    assert "+24177990040" not in inbound.masked_payload(event) and "+241******40" in inbound.masked_payload(event)
    session.commit()
    check = next(c for c in health.checks() if c.name == "Événements mis de côté")
    assert check.ok is False and "1 événement(s)" in check.detail
    assert health.cluster_state().dead_letters == 1
    inbound.retry_dead_letter(session, event.id)  # retried before the cause is fixed: set aside again
    assert inbound.dead_letter_count(session) == 0 and inbound.pending_count(session) == 1
    for _ in range(inbound.MAX_ATTEMPTS):
        inbound.process_pending(session)
    inbound.discard_dead_letter(session, event.id)
    assert inbound.dead_letter_count(session) == 0
    with pytest.raises(UserError, match="plus en attente"):
        inbound.discard_dead_letter(session, event.id)
    actions = session.scalars(select(AuditLog.action).where(AuditLog.target_type == "webhook_event")).all()
    assert sorted(actions) == ["inbound_event_discarded", "inbound_event_retried"]
    assert inbound.store(session, [bad]) == 0  # a redelivery of a discarded event is still recognised


def refuse_contact_named(session, name: str) -> None:  # noqa: ANN001
    """A trigger that makes the database refuse a contact with this first name (on both databases)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"CREATE OR REPLACE FUNCTION refuse_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                             f"BEGIN IF NEW.first_name = '{name}' THEN RAISE EXCEPTION 'refusé'; END IF; "
                             "RETURN NEW; END $$"))
        session.execute(text(f"CREATE TRIGGER refuse_{name} BEFORE INSERT OR UPDATE ON contacts FOR EACH ROW "
                             f"EXECUTE FUNCTION refuse_{name}()"))
    else:
        for verb in ("INSERT", "UPDATE"):
            session.execute(text(f"CREATE TRIGGER refuse_{name}_{verb.lower()} BEFORE {verb} ON contacts "
                                 f"WHEN NEW.first_name = '{name}' BEGIN SELECT RAISE(ABORT, 'refusé'); END"))
