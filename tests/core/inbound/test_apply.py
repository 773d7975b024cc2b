"""core.inbound.store and apply: storage once, statuses, messages, keywords, window, replies, contact
and conversation events, hostile content. Every database test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import campaigns, inbound, ledger
from core.models import (
    AuditLog,
    ConsentEvent,
    Contact,
    Conversation,
    Message,
    Recipient,
    StatusEvent,
    WebhookEvent,
)
from core.timeutil import utcnow
from tests.campaign_fixtures import make_audience, make_campaign
from tests.core.inbound import received


def status_event(event_id: str, message_id: str, *values: str, at: float | None = None) -> inbound.Event:
    at = at or utcnow().timestamp()
    payload = {"event_id": event_id, "event_type": "message.sent",
               "message": {"messageId": message_id, "traffic": "outgoing",
                           "status": [{"value": v, "timestamp": int((at + i) * 1000)} for i, v in enumerate(values)]}}
    return inbound.Event(event_id, "message.sent", payload)


@pytest.fixture
def sent_rows(session):  # noqa: ANN001, ANN201
    audience = make_audience(session, 12)  # some are skipped (opted out, no agency)
    campaign = make_campaign(session, audience)
    campaigns.launch(session, campaign)
    rows = ledger.claim(session, campaign.id, owner="w", limit=10, lease_seconds=60)
    ledger.record(session, [ledger.Outcome(r.id, "sent", message_id=f"m{r.id}") for r in rows], owner="w")
    session.flush()
    return [session.get(Recipient, r.id) for r in rows]


def test_the_same_event_twice_is_stored_and_applied_once(session, sent_rows) -> None:  # noqa: ANN001
    row = sent_rows[0]
    event = status_event("ev-1", f"m{row.id}", "delivered")
    assert inbound.store(session, [event]) == 1
    assert inbound.store(session, [event, event]) == 0
    assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 1
    result = inbound.process_pending(session)
    assert result.applied == 1 and inbound.pending_count(session) == 0
    assert inbound.process_pending(session).applied == 0
    session.refresh(row)
    assert row.status == "delivered"
    delivered = session.scalars(select(StatusEvent).where(StatusEvent.recipient_id == row.id,
                                                          StatusEvent.status == "delivered")).all()
    assert len(delivered) == 1 and delivered[0].source == "webhook"


def test_out_of_order_statuses_only_move_forward_with_their_times(session, sent_rows) -> None:  # noqa: ANN001
    row = sent_rows[1]
    base = utcnow().timestamp()
    inbound.store(session, [status_event("r", f"m{row.id}", "read", at=base + 20),
                            status_event("d", f"m{row.id}", "delivered", at=base + 10),
                            status_event("f", f"m{row.id}", "failed", at=base + 30)])
    inbound.process_pending(session)
    session.refresh(row)
    assert row.status == "read"
    assert abs(row.read_at.timestamp() - (base + 20)) < 0.01
    assert abs(row.delivered_at.timestamp() - (base + 10)) < 0.01


def test_a_failure_keeps_its_code_until_a_delivery_proves_it_wrong(session, sent_rows) -> None:  # noqa: ANN001
    row = sent_rows[2]
    failed = status_event("f1", f"m{row.id}", "failed")
    failed.payload["message"]["status"][0]["message"] = "(#131026) Message undeliverable"
    inbound.store(session, [failed])
    inbound.process_pending(session)
    session.refresh(row)
    assert (row.status, row.error_code) == ("failed", "131026")
    inbound.store(session, [status_event("d1", f"m{row.id}", "delivered")])
    inbound.process_pending(session)
    session.refresh(row)
    assert (row.status, row.error_code) == ("delivered", None)


def test_unknown_event_types_are_stored_and_ignored(session) -> None:  # noqa: ANN001
    inbound.store(session, [inbound.Event("u1", "space.renamed", {"event_type": "space.renamed", "x": 1})])
    result = inbound.process_pending(session)
    assert (result.ignored, result.failed) == (1, 0)
    event = session.scalar(select(WebhookEvent))
    assert event.processed_at is not None and event.payload["x"] == 1 and event.error is None


def test_a_bad_event_does_not_hold_back_the_others(session, sent_rows, monkeypatch) -> None:  # noqa: ANN001
    real = inbound.apply_contact_event

    def broken(session, event_type, payload, *, now):  # noqa: ANN001, ANN202
        if payload.get("contact", {}).get("firstName") == "Boum":
            raise ValueError("unexpected payload")
        return real(session, event_type, payload, now=now)

    monkeypatch.setattr(inbound.apply, "apply_contact_event", broken)  # where it is called from
    row = sent_rows[3]
    inbound.store(session, [
        inbound.Event("c1", "contact.updated", {"contact": {"phone": "+24177990001", "firstName": "Boum"}}),
        status_event("s1", f"m{row.id}", "delivered"),
        inbound.Event("c2", "contact.updated", {"contact": {"phone": "+24177990002", "firstName": "Awa"}}),
    ])
    result = inbound.process_pending(session)
    assert (result.applied, result.failed) == (2, 1)
    session.refresh(row)
    assert row.status == "delivered"
    assert session.scalar(select(Contact.first_name).where(Contact.phone == "+24177990002")) == "Awa"
    bad = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == "c1"))
    assert bad.processed_at is None and bad.attempts == 1 and "unexpected payload" in bad.error
    for _ in range(inbound.MAX_ATTEMPTS):
        inbound.process_pending(session)
    session.refresh(bad)
    assert bad.processed_at is not None and bad.attempts == inbound.MAX_ATTEMPTS  # set aside, kept


# --- messages from people ------------------------------------------------------------------------

def run(session, *events: inbound.Event) -> inbound.Processed:  # noqa: ANN001
    inbound.store(session, list(events))
    return inbound.process_pending(session)


def test_a_message_from_someone_new_creates_the_contact_and_opens_the_window(session) -> None:  # noqa: ANN001
    at = utcnow() - timedelta(hours=2)
    result = run(session, received("n1", "077 99 00 11", "Bonjour, quand est payée la pension ?",
                                   at=at.timestamp(), firstName="Awa", lastName="Ndong"))
    contact = session.scalar(select(Contact).where(Contact.phone == "+24177990011"))
    assert contact is not None and contact.consent_status == "unknown" and contact.first_name == "Awa"
    assert abs((contact.window_expires_at - (at + timedelta(hours=24))).total_seconds()) < 0.01
    message = session.scalar(select(Message).where(Message.contact_id == contact.id))
    assert message.direction == "inbound" and message.text.startswith("Bonjour")
    # The question goes to the chatbot (the worker answers it after the transaction).
    assert [f.text for f in result.followups] == ["Bonjour, quand est payée la pension ?"]


def test_an_older_message_does_not_shorten_the_window(session) -> None:  # noqa: ANN001
    now = utcnow()
    run(session, received("w1", "+24177990012", "Bonjour", at=now.timestamp()),
        received("w2", "+24177990012", "Encore moi", at=(now - timedelta(hours=5)).timestamp()))
    contact = session.scalar(select(Contact).where(Contact.phone == "+24177990012"))
    assert abs((contact.window_expires_at - (now + timedelta(hours=24))).total_seconds()) < 0.01


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop.", "ARRET", "Arrêt", "arrêt svp", "ARRÊTEZ",
                                  "Désabonner", "DESABONNER", "désinscrire", "Désinscrire moi svp",
                                  "DÉSINSCRIPTION", "stop merci", "  Stop !! "])
def test_opt_out_words_in_many_spellings(session, text) -> None:  # noqa: ANN001
    contact = Contact(phone="+24177990013", consent_status="opted_in", attributes={})
    session.add(contact)
    session.flush()
    result = run(session, received("o1", contact.phone, text))
    session.refresh(contact)
    assert contact.consent_status == "opted_out" and contact.opted_out_at is not None
    assert result.followups == []
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id))
    assert event.source == "whatsapp" and event.status == "opted_out"
    assert session.scalar(select(AuditLog).where(AuditLog.action == "consent_opt_out")) is not None
    confirmation = session.scalar(select(Message).where(Message.contact_id == contact.id, Message.author == "system"))
    assert confirmation is not None and confirmation.text == inbound.OPT_OUT_CONFIRMATION


@pytest.mark.parametrize("text", ["Je ne veux pas que ça s'arrête", "Stop ou encore ?",
                                  "Comment arrêter mes cotisations volontaires quand je pars à la retraite ?",
                                  "Ma pension est à l'arrêt depuis deux mois"])
def test_sentences_that_merely_contain_a_word_are_not_opt_outs(session, text) -> None:  # noqa: ANN001
    contact = Contact(phone="+24177990014", consent_status="opted_in", attributes={})
    session.add(contact)
    session.flush()
    run(session, received("o2", contact.phone, text))
    session.refresh(contact)
    assert contact.consent_status == "opted_in"


@pytest.mark.parametrize("text, asked", [("START", None), ("Réabonner svp", None),
                                         ("Oui", "Pour recevoir de nouveau nos messages, répondez OUI."),
                                         ("oui !", "Pour vous réinscrire, tapez OUI")])
def test_start_or_oui_when_asked_opts_back_in(session, text, asked) -> None:  # noqa: ANN001
    contact = Contact(phone="+24177990015", consent_status="opted_out", opted_out_at=utcnow(), attributes={})
    session.add(contact)
    session.flush()
    if asked:
        session.add(Message(contact_id=contact.id, direction="outbound", author="system", text=asked))
        session.flush()
    run(session, received("i1", contact.phone, text))
    session.refresh(contact)
    assert contact.consent_status == "opted_in" and contact.opted_out_at is None
    texts = session.scalars(select(Message.text).where(Message.contact_id == contact.id,
                                                       Message.author == "system")).all()
    assert texts[-1:] == [inbound.OPT_IN_CONFIRMATION]


@pytest.mark.parametrize("asked", [None, "Votre pension est-elle bien arrivée ?",
                                   "Vous êtes désinscrit(e). Répondez START pour vous réinscrire.",
                                   "Pouvez-vous répondre par oui ou par non ?",
                                   "Merci de répondre OUI si vous avez reçu votre carte.",
                                   "Pour recevoir de nouveau nos messages, ne répondez pas oui mais START."])
def test_an_opted_out_person_saying_oui_to_anything_else_stays_opted_out(session, asked) -> None:  # noqa: ANN001
    contact = Contact(phone="+24177990016", consent_status="opted_out", opted_out_at=utcnow(), attributes={})
    session.add(contact)
    session.flush()
    if asked:
        session.add(Message(contact_id=contact.id, direction="outbound", author="agent", text=asked))
        session.flush()
    run(session, received("i2", contact.phone, "Oui"))
    session.refresh(contact)
    assert contact.consent_status == "opted_out"


@pytest.mark.parametrize("text", ["Je veux parler à un conseiller", "AGENT", "un humain svp",
                                  "Je voudrais parler à quelqu'un"])
def test_asking_for_a_human_hands_the_conversation_over(session, text) -> None:  # noqa: ANN001
    result = run(session, received("h1", "+24177990016", text))
    assert result.followups == []
    conversation = session.scalar(select(Conversation))
    assert conversation.status == "waiting_agent" and conversation.handoff_reason == "requested"
    assert session.scalar(select(Message.text).where(Message.author == "system")) == inbound.HANDOFF_NOTICE
    # While a human has it, the next messages wait for them instead of going to the bot.
    assert run(session, received("h2", "+24177990016", "Alors ?")).followups == []


def test_replies_count_for_the_campaign_within_the_attribution_period(session, sent_rows) -> None:  # noqa: ANN001
    row, late = sent_rows[4], sent_rows[5]
    late.sent_at = utcnow() - timedelta(days=10)
    session.flush()
    run(session, received("rp1", row.phone, "Merci pour l'information"),
        received("rp2", late.phone, "Bonjour"))
    session.refresh(row)
    session.refresh(late)
    assert row.replied_at is not None and late.replied_at is None
    reply = session.scalar(select(Message).where(Message.contact_id == row.contact_id, Message.direction == "inbound"))
    assert reply.campaign_id == row.campaign_id


def test_the_same_message_under_two_event_ids_is_stored_once(session) -> None:  # noqa: ANN001
    first = received("d1", "+24177990017", "Bonjour")
    again = inbound.Event("d2", "message.received", json.loads(json.dumps(first.payload)) | {"event_id": "d2"})
    run(session, first, again)
    assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "inbound")) == 1


# --- contact and conversation events -------------------------------------------------------------

def test_contact_and_conversation_events_update_what_they_describe(session) -> None:  # noqa: ANN001
    run(session,
        inbound.Event("c1", "contact.created", {"contact": {"id": 77, "phone": "+24166990018", "firstName": "Jean"}}),
        inbound.Event("c2", "contact.updated", {"contact": {"id": 77, "phone": "+24166990018", "lastName": "Obame"}}),
        inbound.Event("c3", "contact.tag.updated",
                      {"contact": {"phone": "+24166990018", "tags": ["retraité", "Oyem"]}}),
        inbound.Event("c4", "conversation.opened", {"contact": {"phone": "+24166990018"}, "conversation": {"id": 5}}))
    contact = session.scalar(select(Contact).where(Contact.phone == "+24166990018"))
    assert (contact.first_name, contact.last_name, contact.provider_contact_id) == ("Jean", "Obame", "77")
    assert contact.attributes["respondio_tags"] == "retraité, Oyem"
    conversation = session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    assert conversation.status == "bot" and conversation.provider_conversation_id == "5"
    run(session, inbound.Event("c5", "conversation.closed", {"contact": {"phone": "+24166990018"}}))
    session.refresh(conversation)
    assert conversation.status == "closed" and conversation.handled_at is not None


# --- hostile content ---------------------------------------------------------------------------

def signed_body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


@pytest.mark.parametrize("text, stored", [
    ("\\u0000", "\\u0000"),  # the six characters typed by hand: kept as typed
    ("a\u0000b", "ab"),  # a real NUL: removed (PostgreSQL text cannot hold it)
    ("\\\\u0000 et \u0000 puis \\u0000", "\\\\u0000 et  puis \\u0000"),
])
def test_nul_characters_are_removed_after_decoding_never_in_the_raw_bytes(session, text, stored) -> None:  # noqa: ANN001
    payload = received("nul-1", "+24177990030", text).payload
    event = inbound.parse(signed_body(payload))
    assert inbound.store(session, [event]) == 1
    assert inbound.process_pending(session).applied == 1
    message = session.scalar(select(Message).where(Message.provider_message_id == "in-nul-1"))
    assert message.text == stored


def test_names_and_types_longer_than_their_columns_are_cut_not_failed(session) -> None:  # noqa: ANN001
    event = received("long-1", "+24177990031", "Bonjour", firstName="A" * 200, lastName="<b>" + "B" * 300)
    event.payload["message"]["message"]["type"] = "x" * 80
    result = run(session, event)
    assert (result.applied, result.failed) == (1, 0)
    contact = session.scalar(select(Contact).where(Contact.phone == "+24177990031"))
    assert contact.first_name == "A" * 120 and contact.last_name == ("<b>" + "B" * 300)[:120]
    message = session.scalar(select(Message).where(Message.provider_message_id == "in-long-1"))
    assert message.message_type == "x" * 32


def test_event_ids_longer_than_the_column_are_hashed_not_cut(session) -> None:  # noqa: ANN001
    base = "e" * 128
    first = inbound.parse(signed_body({"event_id": base + "1", "event_type": "contact.updated"}))
    second = inbound.parse(signed_body({"event_id": base + "2", "event_type": "contact.updated"}))
    assert first.event_id != second.event_id and len(first.event_id) <= 128
    assert inbound.store(session, [first, second]) == 2
