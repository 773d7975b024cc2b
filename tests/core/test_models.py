"""Models and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import db
from core.models import Base, Campaign, Contact, Recipient, Template, WebhookEvent
from tests.factories import make_user


def test_migrations_build_every_table_with_no_drift(db_url: str) -> None:
    assert set(db.table_names(db_url)) == set(Base.metadata.tables) | {"alembic_version"}
    assert db.current_revision(db_url) == db.head_revision()
    with db.get_engine(db_url).connect() as conn:
        opts = {"compare_type": True, "include_object": db.include_object_for(conn.dialect.name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_downgrade_works(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert db.upgrade(url) == db.head_revision()
    db._upgraded.clear()
    assert db.upgrade(url) == db.head_revision()  # nothing to do the second time
    command.downgrade(db.alembic_config(url), "base")
    assert db.table_names(url) == ["alembic_version"]
    db._upgraded.clear()
    db.upgrade(url)
    assert "recipients" in db.table_names(url)


def test_times_come_back_in_utc_and_json_round_trips(session) -> None:  # noqa: ANN001
    libreville = timezone(timedelta(hours=1))
    at = datetime(2026, 11, 25, 10, 30, tzinfo=libreville)
    session.add(Contact(phone="+24177280150", first_name="Awa", attributes={"agence": "Oyem", "n": 3},
                        consent_at=at))
    session.commit()
    session.expire_all()
    contact = session.scalar(select(Contact).where(Contact.phone == "+24177280150"))
    assert contact.consent_at == at
    assert contact.consent_at.tzinfo is not None and contact.consent_at.utcoffset() == timedelta(0)
    assert contact.consent_at.hour == 9
    assert contact.attributes == {"agence": "Oyem", "n": 3}
    assert contact.consent_status == "unknown" and contact.language == "fr"


def test_naive_datetimes_are_refused(session) -> None:  # noqa: ANN001
    session.add(Contact(phone="+24166000001", consent_at=datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()
    session.rollback()


def test_phone_is_unique(session) -> None:  # noqa: ANN001
    session.add(Contact(phone="+24177000001"))
    session.commit()
    session.add(Contact(phone="+24177000001"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_one_ledger_row_per_campaign_and_contact(session) -> None:  # noqa: ANN001
    user = make_user(session)
    tpl = Template(name="rappel", category="UTILITY", status="APPROVED", body="Bonjour {{1}}")
    contact = Contact(phone="+24174000002")
    session.add_all([tpl, contact])
    session.flush()
    campaign = Campaign(name="Test", template_id=tpl.id, created_by=user.id)
    session.add(campaign)
    session.flush()
    session.add(Recipient(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone,
                          parameters={"body": ["Awa"]}))
    session.commit()
    assert session.scalar(select(Recipient.status)) == "pending"
    assert campaign.status == "draft" and campaign.template.name == "rappel"
    session.add(Recipient(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_webhook_event_id_is_unique(session) -> None:  # noqa: ANN001
    session.add(WebhookEvent(event_id="evt-1", event_type="message.received", payload={"a": 1}))
    session.commit()
    session.add(WebhookEvent(event_id="evt-1", event_type="message.received", payload={"a": 1}))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_template_name_and_language_are_unique(session) -> None:  # noqa: ANN001
    session.add(Template(name="t", language="fr", category="UTILITY", body="x"))
    session.add(Template(name="t", language="en", category="UTILITY", body="x"))
    session.commit()
    session.add(Template(name="t", language="fr", category="UTILITY", body="y"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_utc_default_timestamps(session) -> None:  # noqa: ANN001
    before = datetime.now(UTC)
    user = make_user(session)
    session.commit()
    session.expire_all()
    assert before - timedelta(seconds=1) <= session.get(type(user), user.id).created_at <= datetime.now(UTC)


def test_a_forked_child_gets_its_own_connections(db_url) -> None:  # noqa: ANN001
    import os

    from sqlalchemy import text

    with db.session_scope(db_url) as session:  # the parent's pool now holds a connection
        session.execute(text("SELECT 1"))
    parent_engine = db.get_engine(db_url)
    pid = os.fork()
    if pid == 0:  # child: must build a new engine, and its queries must work
        code = 0
        try:
            if db.get_engine(db_url) is parent_engine:
                code = 2
            with db.session_scope(db_url) as session:
                session.execute(text("SELECT 1"))
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    with db.session_scope(db_url) as session:  # and the parent's connection still works
        assert session.execute(text("SELECT 2")).scalar() == 2


def test_deleting_a_contact_or_a_campaign_deletes_its_ledger_rows(session) -> None:  # noqa: ANN001
    from core import campaigns
    from tests.campaign_fixtures import make_audience, make_campaign

    audience = make_audience(session, 12)
    first, second = make_campaign(session, audience, name="A"), make_campaign(session, audience, name="B")
    for campaign in (first, second):
        campaigns.launch(session, campaign)
    session.flush()
    gone = session.scalars(select(Recipient.contact_id).where(Recipient.campaign_id == first.id)).first()

    def ledger() -> list[tuple[int, int]]:
        return sorted(tuple(row) for row in session.execute(select(Recipient.campaign_id, Recipient.contact_id)))

    before = ledger()
    session.execute(Contact.__table__.delete().where(Contact.id == gone))
    assert ledger() == [row for row in before if row[1] != gone]
    session.execute(Campaign.__table__.delete().where(Campaign.id == second.id))
    assert ledger() == [row for row in before if row[1] != gone and row[0] != second.id]


def test_a_savepoint_on_sqlite_takes_the_write_lock_before_it_reads(tmp_path) -> None:  # noqa: ANN001
    """A unit of work that opens a savepoint, reads, then writes, while another connection commits
    in between, must wait its turn. A deferred SQLite transaction would fail at once with
    "database is locked" (its snapshot went stale; no busy timeout helps): the inbound drain lost
    events that way while the outbox, in another thread, recorded its sends."""
    import threading

    from sqlalchemy import update

    url = f"sqlite:///{tmp_path / 'cnss.db'}"
    db.upgrade(url)
    with db.session_scope(url) as session:
        session.add(Template(name="t", language="fr", category="UTILITY", body="Bonjour"))
    reader_has_read, other_committed = threading.Event(), threading.Event()

    def other_writer() -> None:
        reader_has_read.wait(5)
        with db.session_scope(url) as other:  # waits for the savepoint's write lock, if it holds one
            other.execute(update(Template).values(body="Bonjour !"))
        other_committed.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        with db.session_scope(url) as session, session.begin_nested():
            session.scalars(select(Template)).all()
            reader_has_read.set()
            other_committed.wait(0.5)  # a deferred transaction would let the other commit here
            session.execute(update(Template).values(category="MARKETING"))
    finally:
        thread.join(10)
    assert other_committed.is_set()
    with db.session_scope(url) as session:
        assert session.scalars(select(Template.body)).one() == "Bonjour !"
        assert session.scalars(select(Template.category)).one() == "MARKETING"
    db.dispose_engines()
