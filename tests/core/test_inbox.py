"""The agents' inbox, below the screen: the order of the list, unread counts, assignment (taking,
handing to a colleague, giving back to the chatbot), each agent's load, the person behind a
conversation, saved replies. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import inbox, users
from core.errors import UserError
from core.models import AuditLog, Contact, Conversation, Message, Segment, SegmentMember
from core.timeutil import utcnow
from tests.factories import make_user


def conversation_with(session, phone: str, name: str, status: str, *, messages: int = 1,  # noqa: ANN001
                      assigned_to: int | None = None, minutes_ago: int = 0) -> Conversation:
    contact = Contact(phone=phone, first_name=name, search_text=name.lower(),
                      window_expires_at=utcnow() + timedelta(hours=20))
    session.add(contact)
    session.flush()
    at = utcnow() - timedelta(minutes=minutes_ago)
    conversation = Conversation(contact_id=contact.id, status=status, assigned_to=assigned_to, last_message_at=at)
    session.add(conversation)
    session.flush()
    for i in range(messages):
        session.add(Message(conversation_id=conversation.id, contact_id=contact.id, direction="inbound",
                            author="contact", text=f"question {i}", created_at=at))
    session.flush()
    return conversation


@pytest.fixture
def people(session):  # noqa: ANN001, ANN201
    agent, other = make_user(session, "agent"), make_user(session, "agent", email="agent2@test.cnss.ga")
    return {
        "agent": agent, "other": other,
        "bot": conversation_with(session, "+24177100001", "Bot", "bot", minutes_ago=1),
        "others": conversation_with(session, "+24177100002", "Autre", "agent", assigned_to=other.id, minutes_ago=2),
        "mine": conversation_with(session, "+24177100003", "Moi", "agent", assigned_to=agent.id, minutes_ago=30),
        "waiting": conversation_with(session, "+24177100004", "Attente", "waiting_agent", messages=3,
                                     minutes_ago=60),
        "closed": conversation_with(session, "+24177100005", "Fini", "closed"),
    }


def test_waiting_first_then_mine_then_the_others_then_the_bots(session, people) -> None:  # noqa: ANN001
    rows = inbox.list_conversations(session, scope="open", user_id=people["agent"].id)
    assert [r.id for r in rows] == [people[k].id for k in ("waiting", "mine", "others", "bot")]
    assert rows[0].unread == 3 and rows[2].assigned_to == "Test agent"


def test_what_an_agent_had_on_screen_is_read(session, people) -> None:  # noqa: ANN001
    waiting = people["waiting"]
    inbox.mark_seen(session, waiting)
    assert inbox.list_conversations(session, scope="waiting")[0].unread == 0
    session.add(Message(conversation_id=waiting.id, contact_id=waiting.contact_id, direction="inbound",
                        author="contact", text="encore moi"))
    session.add(Message(conversation_id=waiting.id, contact_id=waiting.contact_id, direction="outbound",
                        author="bot", text="réponse"))
    session.flush()
    assert inbox.list_conversations(session, scope="waiting")[0].unread == 1  # the person's, not ours


def test_hand_to_a_colleague_is_audited_and_refused_to_whom_cannot_answer(session, people) -> None:  # noqa: ANN001
    agent, other = people["agent"], people["other"]
    colleague = inbox.hand_to(session, people["waiting"], other.id, agent)
    assert colleague.id == other.id and people["waiting"].status == "agent"
    assert people["waiting"].assigned_to == other.id
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "conversation_handed"))
    assert entry.details["to"] == other.email and entry.actor_id == agent.id
    supervisor = make_user(session, "supervisor")
    with pytest.raises(UserError, match="ne peut pas recevoir"):
        inbox.hand_to(session, people["mine"], supervisor.id, agent)
    users.disable(session, other, actor=None)
    with pytest.raises(UserError, match="ne peut pas recevoir"):
        inbox.hand_to(session, people["mine"], other.id, agent)
    with pytest.raises(UserError, match="déjà traitée"):
        inbox.hand_to(session, people["closed"], agent.id, agent)
    assert other.id not in inbox.colleagues(session) and supervisor.id not in inbox.colleagues(session)


def test_give_back_to_the_chatbot(session, people) -> None:  # noqa: ANN001
    mine = people["mine"]
    inbox.give_back_to_bot(session, mine, people["agent"])
    assert (mine.status, mine.assigned_to, mine.handoff_reason) == ("bot", None, None)
    assert session.scalar(select(AuditLog.action).where(AuditLog.action == "conversation_returned_to_bot"))
    with pytest.raises(UserError):
        inbox.give_back_to_bot(session, people["closed"], people["agent"])


def test_each_agents_load(session, people) -> None:  # noqa: ANN001
    loads = {load.agent: (load.open, load.unread) for load in inbox.loads(session)}
    assert loads == {"Test agent": (1, 1)}  # both test agents share a name: one line per user
    inbox.hand_to(session, people["waiting"], people["agent"].id, people["agent"])
    assert sum(load.open for load in inbox.loads(session)) == 3


def test_the_person_behind_a_conversation(session, people) -> None:  # noqa: ANN001
    conversation = people["mine"]
    segment = Segment(name="Retraités Libreville", kind="static")
    session.add(segment)
    session.flush()
    session.add(SegmentMember(segment_id=segment.id, contact_id=conversation.contact_id))
    session.flush()
    who = inbox.person(session, conversation.contact_id)
    assert (who.name, who.phone, who.segments, who.window_open, who.opted_out) == \
        ("Moi", "+24177100003", ["Retraités Libreville"], True, False)
    assert who.campaigns == []
    assert inbox.person_name(session, conversation) == "Moi"


def test_saved_replies_are_kept_by_managers(session) -> None:  # noqa: ANN001
    manager, agent = make_user(session, "manager"), make_user(session, "agent")
    saved = inbox.save_reply(session, "  Horaires  des agences ", "Ouvert de 7 h 30 à 15 h 30.", manager)
    assert saved.title == "Horaires des agences"
    with pytest.raises(UserError, match="existe déjà"):
        inbox.save_reply(session, "Horaires des agences", "autre", manager)
    with pytest.raises(UserError, match="titre et un texte"):
        inbox.save_reply(session, "Vide", "   ", manager)
    with pytest.raises(UserError, match="4096"):
        inbox.save_reply(session, "Long", "x" * 4097, manager)
    with pytest.raises(UserError, match="responsables"):
        inbox.save_reply(session, "Agent", "texte", agent)
    inbox.save_reply(session, "Horaires", "Ouvert de 7 h 30 à 15 h.", manager, reply_id=saved.id)
    assert [r.title for r in inbox.saved_replies(session)] == ["Horaires"]
    inbox.delete_reply(session, saved.id, manager)
    assert inbox.saved_replies(session) == []
    actions = session.scalars(select(AuditLog.action).where(AuditLog.target_type == "saved_reply")).all()
    assert actions == ["saved_reply_saved", "saved_reply_saved", "saved_reply_deleted"]


def test_two_agents_taking_at_once_one_wins_the_other_is_told(session, people) -> None:  # noqa: ANN001
    waiting = people["waiting"]
    inbox.assign_to_me(session, waiting, people["agent"])
    # The other agent's click comes after, from a screen that still showed it waiting: the guarded
    # UPDATE finds it taken.
    with pytest.raises(UserError, match="Test agent suit déjà cette conversation"):
        inbox.assign_to_me(session, waiting, people["other"])
    assert session.get(Conversation, waiting.id).assigned_to == people["agent"].id
    assert session.scalars(select(AuditLog.actor_id).where(AuditLog.action == "conversation_assigned")).all() == \
        [people["agent"].id]
    inbox.hand_to(session, waiting, people["other"].id, people["agent"])  # the way to pass it on
    assert waiting.assigned_to == people["other"].id
