"""The agents' inbox, driven as an agent would: waiting first, take, reply in the window, a
template outside it, mark handled. Supervisors cannot open it."""

from __future__ import annotations

from sqlalchemy import select

from core import db
from core.models import AuditLog, Contact, Conversation, Message
from core.timeutil import utcnow
from tests.pages.conftest import ROOT, app_as


def open_inbox(user_id: int):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page("pages/inbox.py").run()


def test_waiting_conversations_come_first_and_an_agent_takes_one(seeded) -> None:  # noqa: ANN001
    at = open_inbox(seeded["agent"])
    assert not at.exception
    waiting = int(at.metric[0].value)
    assert waiting > 0
    first = at.selectbox(key="inbox_choice").value
    with db.session_scope() as session:
        assert session.get(Conversation, first).status == "waiting_agent"
    at.button(key=f"take_{first}").click().run()
    with db.session_scope() as session:
        conversation = session.get(Conversation, first)
        assert (conversation.status, conversation.assigned_to) == ("agent", seeded["agent"])
        assert session.scalar(select(AuditLog).where(AuditLog.action == "conversation_assigned")) is not None
    assert int(at.metric[0].value) == waiting - 1


def test_reply_inside_the_window_and_mark_handled(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        conv_id = session.scalar(select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id)
                                 .where(Contact.window_expires_at > utcnow(), Conversation.status != "closed")
                                 .order_by(Conversation.id))
    at = open_inbox(seeded["agent"])
    at.radio(key="inbox_scope").set_value("all").run()
    at.selectbox(key="inbox_choice").set_value(conv_id).run()
    assert any("fenêtre de 24 h ouverte" in c.value for c in at.caption)
    at.text_area(key=f"reply_text_{conv_id}").input("Bonjour, votre pension est versée le 25.")
    next(b for b in at.button if b.label == "Envoyer").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with db.session_scope() as session:
        reply = session.scalar(select(Message).where(Message.conversation_id == conv_id, Message.author == "agent"))
        assert reply.text.startswith("Bonjour, votre pension") and reply.agent_id == seeded["agent"]
        assert session.get(Conversation, conv_id).status == "agent"
    at.button(key=f"done_{conv_id}").click().run()
    with db.session_scope() as session:
        assert session.get(Conversation, conv_id).status == "closed"


def test_outside_the_window_only_a_template_can_be_sent(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        conv_id = session.scalar(select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id)
                                 .where(Contact.window_expires_at < utcnow(), Conversation.status != "closed",
                                        Contact.consent_status != "opted_out").order_by(Conversation.id))
    at = open_inbox(seeded["manager"])
    at.radio(key="inbox_scope").set_value("all").run()
    at.selectbox(key="inbox_choice").set_value(conv_id).run()
    assert any("fenêtre de 24 heures est fermée" in i.value for i in at.info)
    assert not [t for t in at.text_area if t.key == f"reply_text_{conv_id}"]  # no free text box
    at.button(key=f"send_tpl_{conv_id}").click().run()
    assert not at.exception
    with db.session_scope() as session:
        sent = session.scalar(select(Message).where(Message.conversation_id == conv_id, Message.author == "agent"))
        if at.error:  # a template whose variables this contact cannot fill is refused in French
            assert sent is None and "valeur" in at.error[0].value
        else:
            assert sent.message_type == "template" and sent.text


def test_bot_answers_show_their_sources(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        conv_id = session.scalar(select(Message.conversation_id).where(Message.author == "bot"))
    at = open_inbox(seeded["agent"])
    at.radio(key="inbox_scope").set_value("all").run()
    at.selectbox(key="inbox_choice").set_value(conv_id).run()
    assert any("Sources utilisées" in e.label for e in at.expander)


def test_supervisors_cannot_open_the_inbox(seeded) -> None:  # noqa: ANN001
    at = app_as(seeded["supervisor"], script=str(ROOT / "pages" / "inbox.py")).run()
    assert at.error and "Accès refusé" in at.error[0].value
