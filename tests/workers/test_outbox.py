"""The outbox: messages sent outside campaigns (confirmations, bot answers, hand-over notices, agents'
replies, template test sends) are recorded in the deciding transaction and sent after commit with
the campaign ledger's guarantees. Against the fake Respond.io server on loopback, on SQLite and
PostgreSQL; real processes killed between the commit and the send; the hook under RQ on real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core import db, inbound, messaging, outbox, queue, respondio
from core.config import reload_settings
from core.models import Contact, Conversation, Message, OutboxMessage, Template
from core.timeutil import utcnow
from tests.core.inbound.test_dead_letters import refuse_contact_named
from workers import outbox as outbox_worker
from workers.scheduler import tick

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake(db_url, fake_respondio, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("RESPONDIO_API_TOKEN", fake_respondio.token)
    monkeypatch.setenv("RESPONDIO_BASE_URL", fake_respondio.base_url)
    monkeypatch.setenv("RESPONDIO_CHANNEL_ID", str(fake_respondio.channel_id))
    monkeypatch.setenv("RESPONDIO_TIMEOUT_SECONDS", "1")  # a lost answer is looked up 2 s later
    monkeypatch.setenv("RECONCILE_MAX_TRIES", "3")
    monkeypatch.setenv("MAX_SEND_ATTEMPTS", "3")
    monkeypatch.setenv("RECONCILE_RATE", "100")
    monkeypatch.setenv("STATUS_POLL_DELAY_SECONDS", "100000")
    reload_settings()
    yield fake_respondio
    queue.forget("blocked:list")
    queue.release(outbox.DELIVER_FLAG)
    reload_settings()


def person(phone: str = "+24177280150", *, window: bool = True, **fields) -> int:  # noqa: ANN003
    with db.session_scope() as session:
        contact = Contact(phone=phone, first_name="Awa", **fields,
                          window_expires_at=utcnow() + timedelta(hours=3) if window else None)
        session.add(contact)
        session.flush()
        return contact.id


def say(contact_id: int, words: str, **kw) -> int:  # noqa: ANN003
    """Record a text in its own committed transaction; returns its outbox item's id."""
    with db.session_scope() as session:
        message = messaging.send_text(session, session.get(Contact, contact_id), words, **kw)
        return session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == message.id))


def item(item_id: int) -> OutboxMessage:
    with db.session_scope() as session:
        found = session.get(OutboxMessage, item_id)
        session.expunge(found)
        return found


def thread_status(item_id: int) -> tuple[str | None, str | None, str | None]:
    with db.session_scope() as session:
        message = session.get(Message, session.get(OutboxMessage, item_id).message_id)
        return message.status, message.provider_message_id, message.error_code


def sweep(*, after: float = 0.0) -> outbox.Swept:
    """The scheduler's outbox step, `after` seconds from now."""
    provider = respondio.provider(max_retries=0)
    try:
        with db.session_scope() as session:
            return outbox.sweep(session, provider, now=utcnow() + timedelta(seconds=after))
    finally:
        provider.close()


def deliver() -> dict[str, int]:
    return outbox_worker.deliver(max_runtime=10, linger=0)


def texts_to(fake, phone: str) -> list[str]:  # noqa: ANN001
    return [m.message.get("text") for m in fake.messages_to(phone)]


# --- recorded with the decision, sent after the commit --------------------------------------------


def test_a_message_is_recorded_in_the_deciding_transaction_and_sent_after_its_commit(fake) -> None:  # noqa: ANN001
    awa = person()
    with pytest.raises(RuntimeError), db.session_scope() as session:  # the decision is rolled back
        messaging.send_text(session, session.get(Contact, awa), "Votre dossier est complet.")
        raise RuntimeError("la transaction échoue après la décision")
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    item_id = say(awa, "  Votre dossier est complet.  ")
    assert item(item_id).status == "pending" and thread_status(item_id)[0] == "pending"
    assert fake.count("send") == 0  # nothing talks to the provider from inside the transaction
    assert deliver() == {"sent": 1}
    sent = item(item_id)
    assert sent.status == "sent" and sent.provider_message_id and sent.attempts == 1
    assert thread_status(item_id) == ("sent", sent.provider_message_id, None)
    assert texts_to(fake, "+24177280150") == ["Votre dossier est complet."]
    assert deliver() == {} and fake.count("send") == 1


def test_one_confirmation_per_stop_when_the_batch_fails_half_way(db_url, fake) -> None:  # noqa: ANN001
    """A STOP, then an event the database refuses, then a greeting, in one batch: the batch fails,
    is replayed event by event; the person who said STOP is opted out and confirmed once (before the
    outbox: twice, the first confirmation sent from inside the transaction that rolled back)."""
    def received(phone: str, words: str, **contact: str) -> inbound.Event:
        event_id = uuid.uuid4().hex
        return inbound.Event(event_id, "message.received", {
            "event_id": event_id, "event_type": "message.received", "contact": {"phone": phone, **contact},
            "message": {"messageId": f"in-{event_id}", "timestamp": int(utcnow().timestamp() * 1000),
                        "message": {"type": "text", "text": words}}})

    with db.session_scope() as session:
        refuse_contact_named(session, "Boum")
    try:
        with db.session_scope() as session:
            inbound.store(session, [received("+24177280151", "STOP"),
                                    received("+24177280152", "Bonjour", firstName="Boum"),
                                    received("+24177280153", "Bonjour")])
        for _ in range(inbound.MAX_ATTEMPTS):  # the refused event is retried, then set aside
            with db.session_scope() as session:
                inbound.process_pending(session)
            deliver()
    finally:
        with db.session_scope() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("DROP TRIGGER IF EXISTS refuse_Boum ON contacts"))
                session.execute(text("DROP FUNCTION IF EXISTS refuse_Boum()"))
    with db.session_scope() as session:
        assert session.scalar(select(Contact.consent_status).where(Contact.phone == "+24177280151")) == "opted_out"
        assert inbound.dead_letter_count(session) == 1 and inbound.pending_count(session) == 0
        purposes = session.scalars(select(OutboxMessage.purpose)).all()
    assert purposes == ["opt_out_confirmation"]
    assert texts_to(fake, "+24177280151") == [inbound.OPT_OUT_CONFIRMATION]
    assert fake.count("send") == 1


# --- what the provider answers ------------------------------------------------------------------


def test_a_lost_answer_is_looked_up_and_never_sent_again(fake) -> None:  # noqa: ANN001
    fake.lost_answer_rate = 1.0  # accepted, then answered 502
    item_id = say(person(), "Votre attestation est prête.")
    assert deliver() == {"uncertain": 1}
    fake.lost_answer_rate = 0.0
    waiting = item(item_id)
    assert waiting.status == "sending" and waiting.lease_owner is None and waiting.error_code == "http_502"
    assert sweep().checked == 0  # the provider is given time to finish with the request first
    swept = sweep(after=3)
    assert (swept.checked, swept.found) == (1, 1)
    found = item(item_id)
    assert found.status == "sent" and found.provider_message_id == str(fake.accepted[0].message_id)
    assert thread_status(item_id)[0] == "sent"
    assert deliver() == {} and fake.count("send") == 1


def test_no_trace_at_the_provider_means_one_new_send(fake) -> None:  # noqa: ANN001
    fake.fail_next(1, 500)  # a 500 may come after the message was taken: looked up first
    item_id = say(person(), "Votre attestation est prête.")
    assert deliver() == {"uncertain": 1}
    assert sweep(after=3).requeued == 1  # the list reaches back past the claim without it
    assert item(item_id).status == "pending"
    assert deliver() == {"sent": 1}
    assert item(item_id).attempts == 2 and texts_to(fake, "+24177280150") == ["Votre attestation est prête."]


def test_a_different_text_at_the_provider_is_not_ours(fake) -> None:  # noqa: ANN001
    awa = person()
    provider = respondio.provider(max_retries=0)
    provider.send_text("+24177280150", "Un autre message, envoyé d'ailleurs.")
    provider.close()
    fake.fail_next(1, 500)
    item_id = say(awa, "Votre attestation est prête.")
    deliver()
    assert sweep(after=3).requeued == 1 and item(item_id).status == "pending"


def test_429_waits_as_told_without_spending_an_attempt(fake) -> None:  # noqa: ANN001
    fake.fail_next(1, 429, retry_after=0.3)
    item_id = say(person(), "Bonjour")
    assert deliver() == {"later": 1}
    waiting = item(item_id)
    assert waiting.status == "pending" and waiting.attempts == 0 and waiting.next_attempt_at > utcnow()
    time.sleep(0.4)
    assert deliver() == {"sent": 1}


def test_a_contact_the_workspace_never_saw_is_created_then_sent(fake) -> None:  # noqa: ANN001
    fake.unknown_contact_send = "refuse"
    item_id = say(person(), "Bonjour")
    assert deliver() == {"sent": 1}
    assert fake.contacts["phone:+24177280150"]["firstName"] == "Awa" and item(item_id).attempts == 1


def test_a_refused_bot_answer_is_final_and_the_conversation_goes_to_the_agents(fake) -> None:  # noqa: ANN001
    awa = person()
    with db.session_scope() as session:
        conversation = inbound.open_conversation(session, session.get(Contact, awa), now=utcnow())
        conversation_id = conversation.id
    fake.fail_next(1, 400, body={"code": 400, "message": "(#131047) Re-engagement message"})
    item_id = say(awa, "La pension est payée le 25.", author="bot", purpose="bot_answer",
                  conversation_id=conversation_id)
    assert deliver() == {"failed": 1}
    failed = item(item_id)
    assert (failed.status, failed.error_code) == ("failed", "131047")
    assert thread_status(item_id)[0] == "failed"
    with db.session_scope() as session:
        conversation = session.get(Conversation, conversation_id)
        assert (conversation.status, conversation.handoff_reason) == ("waiting_agent", "send_failed")


def test_an_opt_out_after_the_decision_stops_the_message_but_not_its_own_confirmation(fake) -> None:  # noqa: ANN001
    awa = person()
    reply = say(awa, "Votre dossier avance.")
    with db.session_scope() as session:
        session.get(Contact, awa).consent_status = "opted_out"
    confirmation = say(awa, inbound.OPT_OUT_CONFIRMATION, author="system", purpose="opt_out_confirmation")
    assert deliver() == {"failed": 1, "sent": 1}
    assert (item(reply).status, item(reply).error_code) == ("failed", "opted_out")
    assert item(confirmation).status == "sent"
    assert texts_to(fake, "+24177280150") == [inbound.OPT_OUT_CONFIRMATION]


# --- bounds: nothing waits forever ----------------------------------------------------------------


def test_a_message_the_provider_never_takes_expires_and_is_shown_failed(fake, monkeypatch) -> None:  # noqa: ANN001
    fake.token = "refused"  # every request answered 401: waits without spending attempts...
    item_id = say(person(), "Bonjour")
    assert deliver() == {"later": 1}
    assert item(item_id).attempts == 0
    assert sweep(after=29 * 60).expired == 0
    assert sweep(after=31 * 60).expired == 1  # ...until the bound: failed, with the reason
    expired = item(item_id)
    assert (expired.status, expired.error_code) == ("failed", "expired") and "401" in expired.error_message
    assert "non accepté" in outbox.describe(expired)
    assert sweep(after=40 * 60).expired == 0


def test_a_send_the_provider_can_neither_confirm_nor_deny_ends_unverified(fake) -> None:  # noqa: ANN001
    fake.lost_answer_rate = 1.0
    item_id = say(person(), "Bonjour")
    deliver()
    fake.lost_answer_rate = 0.0
    for n in range(3):  # RECONCILE_MAX_TRIES lookups answered 500
        fake.fail_next(1, 500)
        swept = sweep(after=3 + n * 400)
        assert swept.checked == 1
    final = item(item_id)
    assert (final.status, final.error_code) == ("failed", "unverified")
    assert fake.count("send") == 1  # never sent again without the provider's word


def test_a_send_left_open_past_the_bound_fails_without_asking(fake) -> None:  # noqa: ANN001
    fake.lost_answer_rate = 1.0
    item_id = say(person(), "Bonjour")
    deliver()
    fake.lost_answer_rate = 0.0
    fake.fail_next(1, 503)
    assert sweep(after=16 * 60).unverified == 1
    assert item(item_id).status == "failed"


# --- real processes killed between the commit and the send ---------------------------------------

KILLED = """
import os, signal
from core import db, messaging, outbox, respondio
from core.models import Contact
with db.session_scope() as s:
    messaging.send_text(s, s.get(Contact, {contact}), "Votre rendez-vous est confirmé.")
with db.session_scope() as s:
    [claimed] = outbox.claim(s, owner="doomed", limit=1, lease_seconds=5)
if {send}:
    provider = respondio.provider(max_retries=0)
    provider.send_text(claimed.phone, claimed.text)  # accepted: only the record is lost
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("moment", ["before_the_send", "after_the_send"])
def test_a_worker_killed_between_commit_and_send_leaves_one_message(fake, db_url, tmp_path, moment,
                                                                     monkeypatch) -> None:  # noqa: ANN001
    """A real process records and claims the message, then dies with SIGKILL before its request, or
    after the provider accepted it but before recording that. The scheduler's ticks settle it: the
    person gets the message exactly once."""
    monkeypatch.setenv("SCHEDULER_INTERVAL_SECONDS", "0.2")
    reload_settings()
    awa = person()
    env = {**os.environ, "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path)}
    script = KILLED.format(contact=awa, send=moment == "after_the_send")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with db.session_scope() as session:
        left = session.scalar(select(OutboxMessage))
        assert (left.status, left.lease_owner) == ("sending", "doomed")
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and item(left.id).status != "sent":
        tick()  # after the lease (5 s): looked up, then sent or recorded as sent; the delivery runs in-process
        time.sleep(0.3)
    assert item(left.id).status == "sent"
    assert texts_to(fake, "+24177280150") == ["Votre rendez-vous est confirmé."]


# --- the hook on the commit, in-process and under RQ on real Redis --------------------------------


def test_the_commit_asks_for_a_delivery_in_process(fake, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("OUTBOX_DELIVER_AFTER_COMMIT", "true")
    reload_settings()
    item_id = say(person(), "Bonjour")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and item(item_id).status != "sent":
        time.sleep(0.05)
    assert item(item_id).status == "sent" and fake.count("send") == 1


def test_the_commit_asks_for_one_delivery_job_under_rq(fake, redis_url, monkeypatch) -> None:  # noqa: ANN001
    from rq import Queue, SimpleWorker

    monkeypatch.setenv("OUTBOX_DELIVER_AFTER_COMMIT", "true")
    reload_settings()
    awa = person()
    ids = [say(awa, f"Message {n}") for n in range(5)]
    rq_queue = Queue(queue.DEFAULT_QUEUE, connection=queue.redis_connection())
    assert len(rq_queue) == 1  # one delivery waiting, not one per message
    SimpleWorker([rq_queue], connection=queue.redis_connection()).work(burst=True)
    assert [item(i).status for i in ids] == ["sent"] * 5
    assert sorted(texts_to(fake, "+24177280150")) == [f"Message {n}" for n in range(5)]


# --- template sends: a test, and an agent's template outside the window -----------------------------


def test_a_template_test_send_goes_through_the_outbox(fake) -> None:  # noqa: ANN001
    fake.templates = {"rappel_cotisation": 1}
    with db.session_scope() as session:
        template = Template(name="rappel_cotisation", language="fr", category="UTILITY", status="APPROVED",
                            body="Bonjour {{1}}, votre cotisation est due.",
                            variable_mapping={"1": {"source": "field", "field": "first_name", "fallback": "assuré"}})
        session.add(template)
        session.flush()
        template_id = template.id
        item_id = messaging.send_test(session, template, to="077 28 01 59")
    assert deliver() == {"sent": 1}
    [accepted] = fake.messages_to("+24177280159")
    assert accepted.message["template"]["name"] == "rappel_cotisation"
    with db.session_scope() as session:
        [recent] = outbox.recent_tests(session, template_id)
        assert recent.id == item_id and outbox.describe(recent) == "envoyé"


# --- found by the adversarial review ------------------------------------------------------------


def test_a_sender_waiting_past_its_lease_keeps_it_and_the_person_gets_one_message(fake, monkeypatch) -> None:  # noqa: ANN001
    """The provider's 429 (a campaign's, say) makes the sender wait longer than its lease: it renews
    the lease while it waits, so the sweep does not take the message for abandoned and send it again."""
    import threading

    from core import ratelimit

    monkeypatch.setenv("SEND_LEASE_SECONDS", "5")
    reload_settings()
    item_id = say(person(), "Bonjour")
    ratelimit.limiter().block(8, "blocked")  # every sender of the provider waits 8 s
    first = threading.Thread(target=deliver)
    first.start()
    time.sleep(6.5)  # past the 5-second lease
    swept = sweep()
    assert swept.checked == 0 and item(item_id).status == "sending"  # its lease was renewed
    assert deliver() == {}  # a second sender finds nothing to send
    first.join(timeout=30)
    assert item(item_id).status == "sent" and fake.count("send") == 1


def test_one_persons_messages_leave_in_the_order_they_were_decided(fake) -> None:  # noqa: ANN001
    awa = person()
    fake.fail_next(1, 429, retry_after=0.3)
    first, second = say(awa, "Premier message"), say(awa, "Second message")
    assert deliver() == {"later": 1}  # the second waits behind the first
    assert item(second).status == "pending" and item(second).attempts == 0
    time.sleep(0.4)
    deliver()
    deliver()
    assert texts_to(fake, "+24177280150") == ["Premier message", "Second message"]
    assert item(first).status == item(second).status == "sent"


def test_an_erased_person_leaves_no_number_nor_words_in_the_outbox(fake) -> None:  # noqa: ANN001
    from core.contacts import service

    awa = person()
    sent, waiting = say(awa, "Déjà parti"), None
    deliver()
    waiting = say(awa, "Pas encore parti")
    with db.session_scope() as session:
        service.erase(session, session.get(Contact, awa), reason="Demande n° 12", actor=None)
    for item_id, status in ((sent, "sent"), (waiting, "failed")):
        left = item(item_id)
        assert left.status == status and left.phone.startswith("efface-") and left.text is None
    assert item(waiting).error_code == "erased" and deliver() == {} and fake.count("send") == 1


def test_a_bot_answer_to_someone_who_opted_out_meanwhile_is_not_handed_to_the_agents(fake) -> None:  # noqa: ANN001
    awa = person()
    with db.session_scope() as session:
        conversation_id = inbound.open_conversation(session, session.get(Contact, awa), now=utcnow()).id
    item_id = say(awa, "La pension est payée le 25.", author="bot", purpose="bot_answer",
                  conversation_id=conversation_id)
    with db.session_scope() as session:
        session.get(Contact, awa).consent_status = "opted_out"
    assert deliver() == {"failed": 1} and item(item_id).error_code == "opted_out"
    with db.session_scope() as session:
        assert session.get(Conversation, conversation_id).status == "bot"  # nobody to answer: no agent asked
