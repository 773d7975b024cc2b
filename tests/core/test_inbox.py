"""The agents' inbox, below the screen: the order of the list, unread counts, assignment (taking,
handing to a colleague, giving back to the chatbot), each agent's load, the person behind a
conversation, saved replies. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import db, inbox, users
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


def test_the_one_waiting_longest_comes_first_and_the_list_says_how_many_it_holds(session, people) -> None:  # noqa: ANN001
    early = conversation_with(session, "+24177100006", "Depuis ce matin", "waiting_agent", minutes_ago=5)
    early.handed_over_at = utcnow() - timedelta(hours=6)  # handed over long ago; wrote again a minute ago
    session.flush()
    waiting = [row.contact_name for row in inbox.list_conversations(session, scope="waiting")]
    assert waiting == ["Depuis ce matin", "Attente"]  # the longest wait first, not the latest message
    assert inbox.count_conversations(session, scope="open") == 5
    assert len(inbox.list_conversations(session, scope="open", limit=2)) == 2
    assert inbox.count_conversations(session, scope="mine", user_id=people["agent"].id) == 1


def test_search_takes_percent_and_underscore_as_typed(session, people) -> None:  # noqa: ANN001
    conversation_with(session, "+24177100007", "Taux 100% Nze_Mba", "bot")
    assert [r.contact_name for r in inbox.list_conversations(session, scope="all", search="100%")] == \
        ["Taux 100% Nze_Mba"]
    assert [r.contact_name for r in inbox.list_conversations(session, scope="all", search="nze_m")] == \
        ["Taux 100% Nze_Mba"]
    assert inbox.list_conversations(session, scope="all", search="%") != []  # (only the one that has it)
    assert len(inbox.list_conversations(session, scope="all", search="%")) == 1
    assert inbox.list_conversations(session, scope="all", search="_") == \
        inbox.list_conversations(session, scope="all", search="nze_m")  # not "any one character"
    assert inbox.count_conversations(session, scope="all", search="%") == 1


def test_only_those_who_answer_may_act_on_a_conversation(session, people) -> None:  # noqa: ANN001
    supervisor = make_user(session, "supervisor")
    disabled = make_user(session, "agent", email="parti@test.cnss.ga")
    disabled.is_active = False
    waiting = people["waiting"]
    for who in (supervisor, disabled):
        for action, args in ((inbox.assign_to_me, ()), (inbox.reply, ("Bonjour",)), (inbox.mark_handled, ()),
                             (inbox.give_back_to_bot, ()), (inbox.hand_to, (people["agent"].id,))):
            with pytest.raises(UserError, match="Votre rôle ne permet pas"):
                action(session, waiting, *args, who)
    assert session.get(Conversation, waiting.id).status == "waiting_agent"
    assert not session.scalars(select(Message).where(Message.author == "agent")).all()


def test_no_message_leaves_on_a_colleagues_or_a_handled_conversation(session, people) -> None:  # noqa: ANN001
    agent, other = people["agent"], people["other"]
    waiting = people["waiting"]
    inbox.assign_to_me(session, waiting, other)  # a colleague takes it while the agent writes
    with pytest.raises(UserError, match="Test agent suit cette conversation : votre message n'est pas parti"):
        inbox.reply(session, waiting, "Bonjour", agent)
    for action in (inbox.mark_handled, inbox.give_back_to_bot):  # nor may an agent close or undo it
        with pytest.raises(UserError, match="seul lui, ou un responsable"):
            action(session, waiting, agent)
    with pytest.raises(UserError, match="seul lui, ou un responsable"):
        inbox.hand_to(session, waiting, agent.id, agent)  # nor hand it to themselves
    inbox.mark_handled(session, waiting, other)  # the holder closes it
    with pytest.raises(UserError, match="marquée comme traitée : votre message n'est pas parti"):
        inbox.reply(session, waiting, "Bonjour", other)
    assert not session.scalars(select(Message).where(Message.author == "agent")).all()  # nothing left
    assert inbox.reopen(session, waiting, agent) is waiting  # on purpose, then the reply goes
    assert (waiting.status, waiting.assigned_to) == ("agent", agent.id)
    inbox.reply(session, waiting, "Bonjour", agent)
    assert session.scalar(select(AuditLog.action).where(AuditLog.action == "conversation_reopened"))


def test_reopening_when_the_person_wrote_since_gives_their_current_conversation(session, people) -> None:  # noqa: ANN001
    agent, mine = people["agent"], people["mine"]
    inbox.mark_handled(session, mine, agent)
    newer = Conversation(contact_id=mine.contact_id, status="bot", last_message_at=utcnow())  # they wrote again
    session.add(newer)
    session.flush()
    assert inbox.reopen(session, mine, agent) is newer
    assert mine.status == "closed"  # one person, one open thread


def test_a_double_click_sends_once(session, people) -> None:  # noqa: ANN001
    agent, waiting = people["agent"], people["waiting"]
    inbox.reply(session, waiting, "Votre dossier est complet.", agent)
    with pytest.raises(UserError, match="vient déjà de partir"):
        inbox.reply(session, waiting, " Votre dossier est complet. ", agent)
    inbox.reply(session, waiting, "Autre chose ?", agent)  # another text goes
    assert session.scalar(select(func.count()).select_from(Message).where(Message.author == "agent")) == 2


def test_every_agent_is_in_the_loads_even_with_nothing_in_hand(session, people) -> None:  # noqa: ANN001
    password = "Mot-de-passe-2026"
    idle = users.create(session, email="idle@test.cnss.ga", name="Zoé Libre", role="agent", password=password)
    gone = users.create(session, email="gone@test.cnss.ga", name="Ancien Agent", role="agent", password=password)
    make_user(session, "supervisor")  # does not answer: not listed
    conversation_with(session, "+24177100008", "Chez l'ancien", "agent", assigned_to=gone.id)
    gone.is_active = False
    session.flush()
    loads = {load.agent: (load.open, load.unread) for load in inbox.loads(session)}
    assert loads["Zoé Libre"] == (0, 0) and idle.is_active
    assert loads["Ancien Agent"] == (1, 1)  # disabled, but still holding one: somebody must pick it up
    assert "Test supervisor" not in loads


def test_saved_reply_titles_are_unique_whatever_the_case_and_a_deleted_one_is_said_gone(session) -> None:  # noqa: ANN001
    manager = make_user(session, "manager")
    saved = inbox.save_reply(session, "Horaires des agences", "Ouvert de 7 h 30 à 15 h 30.", manager)
    with pytest.raises(UserError, match="« Horaires des agences » existe déjà"):
        inbox.save_reply(session, "HORAIRES des Agences", "autre", manager)
    inbox.save_reply(session, "horaires des agences", "Ouvert.", manager, reply_id=saved.id)  # its own title
    assert inbox.saved_reply(session, saved.id).body == "Ouvert."
    inbox.delete_reply(session, saved.id, manager)
    with pytest.raises(UserError, match="vient d'être supprimée"):
        inbox.saved_reply(session, saved.id)


def test_two_agents_replying_at_the_same_moment_one_message_leaves(db_url) -> None:  # noqa: ANN001
    """Two agents (or two tabs) press « Envoyer » on the same waiting conversation at once: the row is
    locked while the first reply is written, the second sees it held and is told; one message leaves."""
    import threading

    from core.errors import UserError as Refused

    with db.session_scope(db_url) as session:
        first, second = make_user(session, "agent"), make_user(session, "agent", email="agent2@test.cnss.ga")
        ids = (first.id, second.id)
        conversation_id = conversation_with(session, "+24177100009", "Deux clics", "waiting_agent").id
    barrier, outcomes = threading.Barrier(2), []

    def press(agent_id: int) -> None:
        barrier.wait()
        try:
            with db.session_scope(db_url) as session:
                inbox.reply(session, inbox.get(session, conversation_id), "Bonjour, je m'en occupe.",
                            users.get(session, agent_id))
            outcomes.append("sent")
        except Refused as err:
            outcomes.append(str(err))
        except Exception as err:  # noqa: BLE001 - SQLite's one writer: the other waits or is turned away
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=press, args=(agent_id,)) for agent_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with db.session_scope(db_url) as session:
        sent = session.scalars(select(Message).where(Message.conversation_id == conversation_id,
                                                     Message.author == "agent")).all()
    assert len(sent) == 1, outcomes  # exactly one, whoever won
    assert outcomes.count("sent") == 1 and any("suit cette conversation" in o for o in outcomes), outcomes
