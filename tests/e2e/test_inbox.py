"""Two agents in the inbox, in a real browser: messages arrive while one of them is typing; taking
over, replying and closing each land on the conversation on screen, the reply reaches that person
through the outbox, and the other agent sees who holds it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core import db, users
from core.models import Contact, Conversation, Message, OutboxMessage
from core.timeutil import utcnow
from tests.e2e.test_journey import Journey, browser  # noqa: F401 - the module's browser fixture

PASSWORD = "Deux-Agents-2026-ok"
TYPED = "Bonjour Madame Obiang, votre dossier de pension est complet"


def waiting_person(session, phone: str, first: str, last: str, text: str) -> int:  # noqa: ANN001
    contact = Contact(phone=phone, first_name=first, last_name=last, window_expires_at=utcnow() + timedelta(hours=5),
                      last_inbound_at=utcnow(), search_text=f"{first} {last}".lower())
    session.add(contact)
    session.flush()
    conversation = Conversation(contact_id=contact.id, status="waiting_agent", handoff_reason="requested",
                                last_message_at=utcnow())
    session.add(conversation)
    session.flush()
    session.add(Message(conversation_id=conversation.id, contact_id=contact.id, direction="inbound",
                        author="contact", text=text))
    return conversation.id


def arrives(database_url: str, conversation_id: int, text: str) -> None:
    """A new message from the person, as the inbound worker records it."""
    with db.session_scope(database_url) as session:
        conversation = session.get(Conversation, conversation_id)
        session.add(Message(conversation_id=conversation_id, contact_id=conversation.contact_id,
                            direction="inbound", author="contact", text=text))
        conversation.last_message_at = utcnow()


def test_two_agents_and_messages_arriving_while_one_types(running_app, browser) -> None:  # noqa: ANN001, F811
    url = running_app.database_url
    with db.session_scope(url) as session:
        for email, name in (("agent.awa@cnss.ga", "Awa Agent"), ("agent.paul@cnss.ga", "Paul Agent")):
            users.create(session, email=email, name=name, role="agent", password=PASSWORD)
        obiang = waiting_person(session, "+24177300101", "Marie", "Obiang", "Mon dossier de pension est-il complet ?")
        nze = waiting_person(session, "+24177300102", "Jean", "Nze", "Quand est versée la pension ?")

    awa_page = browser.new_page(viewport={"width": 1500, "height": 1100}, locale="fr-FR")
    awa = Journey(awa_page, running_app.base)
    awa.sign_in("agent.awa@cnss.ga", PASSWORD)
    awa.open("Conversations")
    main = awa_page.get_by_test_id("stMain")
    main.get_by_role("button", name="Marie Obiang", exact=False).first.click()
    awa.idle()
    main.get_by_role("heading", name="Marie Obiang — +24177300101").wait_for()
    # Her reply box comes after the action buttons on the screen: once it is there, the buttons are hers
    # (a click on the buttons still drawn for the conversation opened first would be dropped by the server,
    # which no longer draws them: never applied to that other person).
    awa_page.get_by_label("Votre réponse à Marie Obiang").wait_for()
    awa.idle()

    awa_page.get_by_role("button", name="Prendre en charge").click()
    awa.visible("Conversation de Marie Obiang prise en charge.")
    main.get_by_role("heading", name="Marie Obiang — +24177300101").wait_for()  # still her, not the next one

    box = awa_page.get_by_label("Votre réponse à Marie Obiang")
    box.click()
    box.press_sequentially(TYPED[:30])
    arrives(url, nze, "Je relance : quand est versée la pension ?")  # someone else writes meanwhile
    arrives(url, obiang, "J'ai aussi envoyé mon RIB.")  # and so does she
    awa.visible("J'ai aussi envoyé mon RIB.", timeout=20_000)  # the thread refreshed on its own
    box.press_sequentially(TYPED[30:])
    assert box.input_value() == TYPED  # nothing the agent typed was lost to the refreshes
    main.get_by_role("heading", name="Marie Obiang — +24177300101").wait_for()
    awa.shot("inbox-agent-typing")
    awa_page.get_by_role("button", name="Envoyer", exact=True).click()
    awa.visible("Réponse à Marie Obiang enregistrée")

    with db.session_scope(url) as session:
        reply = session.scalar(select(Message).where(Message.author == "agent", Message.text == TYPED))
        assert reply is not None and reply.conversation_id == obiang
        item = session.scalar(select(OutboxMessage).where(OutboxMessage.message_id == reply.id))
        contact = session.get(Contact, item.contact_id)
        assert contact.phone == "+24177300101"  # the right person, through the outbox
        assert not session.scalars(select(Message).where(Message.conversation_id == nze,
                                                         Message.author == "agent")).all()

    paul_page = browser.new_page(viewport={"width": 1500, "height": 1100}, locale="fr-FR")
    paul = Journey(paul_page, running_app.base)
    paul.sign_in("agent.paul@cnss.ga", PASSWORD)
    paul.open("Conversations")
    paul_main = paul_page.get_by_test_id("stMain")
    paul_main.get_by_text("Prise en charge · Awa Agent", exact=False).first.wait_for()  # who holds it
    paul_main.get_by_role("button", name="Marie Obiang", exact=False).first.click()
    paul_main.get_by_text("suivie par Awa Agent", exact=False).first.wait_for()
    paul.idle()
    paul.shot("inbox-second-agent")

    awa_page.get_by_role("button", name="Marquer comme traitée").click()
    awa.visible("Conversation de Marie Obiang marquée comme traitée.")
    # Paul still has her on screen: his header and buttons follow without a click of his.
    paul.visible("Conversation traitée. Si la personne écrit à nouveau, une nouvelle conversation s'ouvre.",
                 timeout=20_000)
    with db.session_scope(url) as session:
        assert session.get(Conversation, obiang).status == "closed"
        assert session.get(Conversation, nze).status == "waiting_agent"  # untouched
    paul_main.get_by_role("button", name="Marie Obiang", exact=False).first.wait_for(state="detached",
                                                                                      timeout=20_000)
    awa_page.close()
    paul_page.close()


def test_the_window_closing_while_an_agent_types_takes_nothing_off_the_screen(running_app, browser) -> None:  # noqa: ANN001, F811
    """What is typed but not yet sent to the server (no click elsewhere) lives only in the browser: the
    screen redrawn when the window closes keeps the box, and the text in it."""
    url = running_app.database_url
    with db.session_scope(url) as session:
        users.create(session, email="agent.eve@cnss.ga", name="Ève Agent", role="agent", password=PASSWORD)
        conversation_id = waiting_person(session, "+24177300103", "Rose", "Mba", "Ma pension est en retard.")
    page = browser.new_page(viewport={"width": 1500, "height": 1100}, locale="fr-FR")
    eve = Journey(page, running_app.base)
    eve.sign_in("agent.eve@cnss.ga", PASSWORD)
    eve.open("Conversations")
    page.get_by_test_id("stMain").get_by_role("button", name="Rose Mba", exact=False).first.click()
    box = page.get_by_label("Votre réponse à Rose Mba")
    box.wait_for()
    eve.idle()
    box.click()
    box.press_sequentially("Madame Mba, votre pension part demain")
    with db.session_scope(url) as session:  # the window closes while she types
        contact_id = session.get(Conversation, conversation_id).contact_id
        session.get(Contact, contact_id).window_expires_at = utcnow() - timedelta(seconds=1)
    eve.visible("La fenêtre de 24 heures est fermée", timeout=20_000)  # the screen followed on its own
    assert box.input_value() == "Madame Mba, votre pension part demain"  # and her text is still there
    assert page.get_by_role("button", name="Envoyer", exact=True).count() == 0  # it cannot leave as free text
    assert "Press" not in page.get_by_test_id("stMain").inner_text()  # (Streamlit's English hint, hidden)
    eve.shot("inbox-window-closed-while-typing")
    page.close()
