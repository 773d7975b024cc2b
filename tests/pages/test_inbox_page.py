"""The agents' inbox, driven as an agent would: waiting first, open by the list, take, reply in the
window (a saved reply inserted and edited), a template outside it, hand to a colleague, give back to
the chatbot, mark handled; the open conversation never changes under the agent. Supervisors read
every agent's load and act on nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from core import db, inbox, users
from core.models import AuditLog, Contact, Conversation, Message, SavedReply
from core.timeutil import utcnow
from tests.pages.conftest import app_as


def open_inbox(user_id: int):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page("pages/inbox.py").run()


def open_conversation(at, conversation_id: int):  # noqa: ANN001, ANN201
    """A click on the person's line in the list."""
    at.radio(key="inbox_scope").set_value("all").run()
    at.button(key=f"open_{conversation_id}").click().run()
    assert at.session_state["inbox_open"] == conversation_id
    return at


def in_window(*, status: str = "waiting_agent") -> int:
    with db.session_scope() as session:
        return session.scalar(select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id)
                              .where(Contact.window_expires_at > utcnow(), Contact.consent_status != "opted_out",
                                     Conversation.status == status).order_by(Conversation.id))


def test_waiting_conversations_come_first_and_an_agent_takes_one(seeded) -> None:  # noqa: ANN001
    at = open_inbox(seeded["agent"])
    assert not at.exception
    waiting = int(at.metric[0].value)
    assert waiting > 0
    first = at.session_state["inbox_open"]  # the most urgent one opens on the first visit
    with db.session_scope() as session:
        assert session.get(Conversation, first).status == "waiting_agent"
        name = inbox.person_name(session, session.get(Conversation, first))
    at.button(key=f"take_{first}").click().run()
    with db.session_scope() as session:
        conversation = session.get(Conversation, first)
        assert (conversation.status, conversation.assigned_to) == ("agent", seeded["agent"])
        assert session.scalar(select(AuditLog).where(AuditLog.action == "conversation_assigned")) is not None
    assert int(at.metric[0].value) == waiting - 1
    assert at.session_state["inbox_open"] == first  # still on the same person, though no longer « waiting »
    assert any(name in t.value for t in at.success)


def test_the_open_conversation_stays_open_while_the_list_changes(seeded) -> None:  # noqa: ANN001
    """The bug this screen had: taking over moved the agent to the next waiting person, and the
    next reply or « traitée » landed on someone else."""
    at = open_inbox(seeded["agent"])
    at.radio(key="inbox_scope").set_value("waiting").run()
    first = at.session_state["inbox_open"]
    at.button(key=f"take_{first}").click().run()  # it leaves the « waiting » list
    assert at.session_state["inbox_open"] == first
    assert not [b for b in at.button if b.key == f"open_{first}"]  # not listed any more, still open
    with db.session_scope() as session:  # a new message from another person arrives meanwhile
        other = session.scalar(select(Conversation).where(Conversation.id != first,
                                                          Conversation.status == "waiting_agent"))
        other.last_message_at = utcnow()
    at.run()
    at.button(key=f"done_{first}").click().run()
    with db.session_scope() as session:
        assert session.get(Conversation, first).status == "closed"
        assert session.get(Conversation, other.id).status == "waiting_agent"  # untouched
        closed = session.scalars(select(AuditLog.target_id).where(AuditLog.action == "conversation_handled")).all()
    assert [int(t) for t in closed] == [first]


def test_reply_with_a_saved_reply_edited_then_handled(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        manager = users.get(session, seeded["manager"])
        inbox.save_reply(session, "Date de paiement", "Bonjour, votre pension est versée le 25.", manager)
    conv_id = in_window()
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    assert any("Fenêtre de 24 h ouverte" in m.value for m in at.markdown)
    at.selectbox(key=f"saved_{conv_id}").set_value(saved_reply_ids()[0]).run()
    at.button(key=f"insert_{conv_id}").click().run()
    box = at.text_area(key=f"reply_text_{conv_id}")
    assert box.value == "Bonjour, votre pension est versée le 25."
    box.input(box.value + " Bonne journée.")
    next(b for b in at.button if b.label == "Envoyer").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with db.session_scope() as session:
        reply = session.scalar(select(Message).where(Message.conversation_id == conv_id, Message.author == "agent"))
        assert reply.text == "Bonjour, votre pension est versée le 25. Bonne journée."
        assert reply.agent_id == seeded["agent"]
        assert session.get(Conversation, conv_id).status == "agent"
    assert at.session_state["inbox_open"] == conv_id
    at.button(key=f"done_{conv_id}").click().run()
    with db.session_scope() as session:
        assert session.get(Conversation, conv_id).status == "closed"


def saved_reply_ids() -> list[int]:
    with db.session_scope() as session:
        return list(session.scalars(select(SavedReply.id).order_by(SavedReply.title)))


def test_hand_to_a_colleague_then_back_to_the_chatbot(seeded) -> None:  # noqa: ANN001
    conv_id = in_window()
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    at.selectbox(key=f"hand_to_{conv_id}").set_value(seeded["manager"]).run()
    at.button(key=f"hand_{conv_id}").click().run()
    with db.session_scope() as session:
        conversation = session.get(Conversation, conv_id)
        assert (conversation.status, conversation.assigned_to) == ("agent", seeded["manager"])
        handed = session.scalar(select(AuditLog).where(AuditLog.action == "conversation_handed"))
        assert handed.details["to"] == users.get(session, seeded["manager"]).email
    assert any("confiée à" in t.value for t in at.success)
    assert f"bot_{conv_id}" not in {b.key for b in at.button}  # the manager's now: theirs to give back
    at = open_conversation(open_inbox(seeded["manager"]), conv_id)
    at.button(key=f"bot_{conv_id}").click().run()
    with db.session_scope() as session:
        conversation = session.get(Conversation, conv_id)
        assert (conversation.status, conversation.assigned_to) == ("bot", None)
        assert session.scalar(select(func.count()).select_from(AuditLog)
                              .where(AuditLog.action == "conversation_returned_to_bot")) == 1
    assert at.session_state["inbox_open"] == conv_id


def test_outside_the_window_only_a_template_can_be_sent(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        conv_id = session.scalar(select(Conversation.id).join(Contact, Contact.id == Conversation.contact_id)
                                 .where(Contact.window_expires_at < utcnow(), Conversation.status != "closed",
                                        Contact.consent_status != "opted_out").order_by(Conversation.id))
    at = open_conversation(open_inbox(seeded["manager"]), conv_id)
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


def test_the_person_panel_and_unread_counts(seeded) -> None:  # noqa: ANN001
    conv_id = in_window()
    with db.session_scope() as session:
        conversation = session.get(Conversation, conv_id)
        conversation.seen_message_id = None
        unread = session.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conv_id, Message.direction == "inbound"))
    at = open_inbox(seeded["supervisor"])  # reads without marking anything read
    at.radio(key="inbox_scope").set_value("all").run()
    line = at.button(key=f"open_{conv_id}")
    assert f"{unread} non lu(s)" in line.label
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    assert any("Campagnes reçues" in m.value for m in at.markdown)
    assert any("Consentement" in m.value for m in at.markdown)
    at.run()
    assert "non lu" not in at.button(key=f"open_{conv_id}").label  # the agent had it on screen


def test_bot_answers_show_their_sources(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        conv_id = session.scalar(select(Message.conversation_id).where(Message.author == "bot"))
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    assert any("Sources utilisées" in e.label for e in at.expander)


def test_managers_keep_the_saved_replies_agents_cannot(seeded) -> None:  # noqa: ANN001
    at = open_inbox(seeded["manager"])
    form_title = next(t for t in at.text_input if t.label == "Titre")
    form_title.input("Horaires")
    next(t for t in at.text_area if t.label == "Texte").input("Nos agences sont ouvertes de 7 h 30 à 15 h 30.")
    next(b for b in at.button if b.label == "Enregistrer").click().run()
    assert not at.error, [e.value for e in at.error]
    with db.session_scope() as session:
        assert session.scalar(select(SavedReply.title)) == "Horaires"
    agent = open_inbox(seeded["agent"])
    assert not [e for e in agent.expander if e.label == "Gérer les réponses enregistrées"]
    with db.session_scope() as session:
        refused = None
        try:
            inbox.save_reply(session, "x", "y", users.get(session, seeded["agent"]))
        except Exception as err:  # noqa: BLE001
            refused = str(err)
    assert refused and "responsables" in refused


def test_supervisors_read_every_agents_load_and_act_on_nothing(seeded) -> None:  # noqa: ANN001
    first = open_inbox(seeded["agent"])
    taken = first.session_state["inbox_open"]
    first.button(key=f"take_{taken}").click().run()
    at = open_inbox(seeded["supervisor"])
    assert not at.exception
    assert any(e.label == "Charge des agents" for e in at.expander)
    assert any(df.value["Conversations en cours"].sum() >= 1 for df in at.dataframe)
    assert at.metric[1].label == "Prises en charge par un agent" and int(at.metric[1].value) >= 1
    assert at.radio(key="inbox_scope").options == ["À traiter", "En attente d'un agent", "Toutes"]  # none of theirs
    opened = at.session_state["inbox_open"]
    keys = {b.key for b in at.button}
    assert not {f"take_{opened}", f"done_{opened}", f"bot_{opened}", f"hand_{opened}"} & keys
    assert not [t for t in at.text_area if t.key == f"reply_text_{opened}"]


def test_administrators_answer_and_keep_saved_replies(seeded) -> None:  # noqa: ANN001
    at = open_inbox(seeded["admin"])
    assert not at.exception and not at.error
    assert any(e.label == "Gérer les réponses enregistrées" for e in at.expander)
    opened = at.session_state["inbox_open"]
    assert at.button(key=f"take_{opened}") is not None


def send(at, conv_id: int):  # noqa: ANN001, ANN201
    return at.button(key=f"send_{conv_id}").click().run()


def test_a_reply_that_cannot_leave_stays_in_the_box_and_the_agent_is_told(seeded) -> None:  # noqa: ANN001
    conv_id = in_window()
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    at.text_area(key=f"reply_text_{conv_id}").input("Votre dossier est complet.")
    with db.session_scope() as session:  # a colleague closes it while the agent writes
        inbox.mark_handled(session, session.get(Conversation, conv_id), users.get(session, seeded["manager"]))
    send(at, conv_id)
    assert any("marquée comme traitée : votre message n'est pas parti" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert at.text_area(key=f"reply_text_{conv_id}").value == "Votre dossier est complet."  # nothing lost
    send(at, conv_id)  # again, a few seconds later: still refused (handled is handled)
    assert any("Rouvrir la conversation" in e.value for e in at.error)
    with db.session_scope() as session:
        assert not session.scalars(select(Message).where(Message.conversation_id == conv_id,
                                                         Message.author == "agent")).all()
    at.button(key=f"reopen_{conv_id}").click().run()
    assert any("rouverte" in s.value for s in at.success)
    send(at, conv_id)
    assert not at.error, [e.value for e in at.error]
    assert at.text_area(key=f"reply_text_{conv_id}").value == ""  # sent: the box is empty again
    send(at, conv_id)  # a double click: an empty box, nothing more goes
    with db.session_scope() as session:
        assert session.get(Conversation, conv_id).status == "agent"
        assert session.scalars(select(Message.text).where(Message.conversation_id == conv_id,
                                                          Message.author == "agent")).all() == \
            ["Votre dossier est complet."]


def test_the_window_closing_while_the_agent_types_keeps_the_text_and_offers_a_template(seeded) -> None:  # noqa: ANN001
    conv_id = in_window()
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    at.text_area(key=f"reply_text_{conv_id}").input("Bonjour, je regarde votre dossier.")
    with db.session_scope() as session:
        contact = session.get(Contact, session.get(Conversation, conv_id).contact_id)
        contact.window_expires_at = utcnow()
    at.run()  # the screen is drawn again (the thread notices the change on its own)
    assert any("Seul un modèle approuvé" in i.value for i in at.info)  # what the agent can do now
    assert at.text_area(key=f"reply_text_{conv_id}").value == "Bonjour, je regarde votre dossier."  # still there
    assert not [b for b in at.button if b.key == f"send_{conv_id}"]  # but it cannot leave as free text


def test_an_agent_leaves_a_colleagues_conversation_to_them(seeded) -> None:  # noqa: ANN001
    conv_id = in_window()
    with db.session_scope() as session:
        inbox.assign_to_me(session, session.get(Conversation, conv_id), users.get(session, seeded["manager"]))
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    keys = {b.key for b in at.button}
    assert f"take_{conv_id}" in keys  # a click says who has it
    assert not {f"done_{conv_id}", f"bot_{conv_id}", f"hand_{conv_id}"} & keys
    at.button(key=f"take_{conv_id}").click().run()
    assert any("suit déjà cette conversation" in e.value for e in at.error)


def test_a_saved_reply_is_added_after_the_typed_text_and_a_deleted_one_is_said_gone(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        manager = users.get(session, seeded["manager"])
        first = inbox.save_reply(session, "Date de paiement", "La pension est versée le 25.", manager).id
        second = inbox.save_reply(session, "Pièces", "Merci d'apporter votre pièce d'identité.", manager).id
    conv_id = in_window()
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    at.text_area(key=f"reply_text_{conv_id}").input("Bonjour Madame,")
    at.selectbox(key=f"saved_{conv_id}").set_value(first).run()
    at.button(key=f"insert_{conv_id}").click().run()
    assert at.text_area(key=f"reply_text_{conv_id}").value == "Bonjour Madame,\n\nLa pension est versée le 25."
    at.selectbox(key=f"saved_{conv_id}").set_value(second).run()
    with db.session_scope() as session:  # a manager deletes it meanwhile
        inbox.delete_reply(session, second, users.get(session, seeded["manager"]))
    at.button(key=f"insert_{conv_id}").click().run()
    assert any("vient d'être supprimée" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.text_area(key=f"reply_text_{conv_id}").value == "Bonjour Madame,\n\nLa pension est versée le 25."


def test_handing_to_a_colleague_disabled_meanwhile_is_refused_aloud(seeded) -> None:  # noqa: ANN001
    conv_id = in_window()
    at = open_conversation(open_inbox(seeded["agent"]), conv_id)
    at.selectbox(key=f"hand_to_{conv_id}").set_value(seeded["manager"]).run()
    with db.session_scope() as session:
        users.get(session, seeded["manager"]).is_active = False
    at.button(key=f"hand_{conv_id}").click().run()
    assert any("ne peut pas recevoir de conversation" in e.value for e in at.error), [e.value for e in at.error]
    with db.session_scope() as session:
        assert session.get(Conversation, conv_id).assigned_to != seeded["manager"]


def test_a_long_list_says_how_many_it_does_not_show(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        for i in range(60):
            contact = Contact(phone=f"+2417760{i:04d}", first_name=f"Personne {i}", search_text=f"personne {i}")
            session.add(contact)
            session.flush()
            session.add(Conversation(contact_id=contact.id, status="bot", last_message_at=utcnow()))
        total = session.scalar(select(func.count()).select_from(Conversation).where(Conversation.status != "closed"))
    at = open_inbox(seeded["agent"])
    assert any(f"Les 50 plus urgentes sur {total}" in c.value for c in at.caption), [c.value for c in at.caption]
    assert len([b for b in at.button if (b.key or "").startswith("open_")]) == 50


def test_the_saved_reply_manager_speaks_french(seeded) -> None:  # noqa: ANN001
    at = open_inbox(seeded["manager"])
    chooser = at.selectbox(key="saved_edit_choice")
    assert chooser.proto.placeholder == "Choisir une réponse"
    assert chooser.options == ["➕ Nouvelle réponse"]


def test_a_saved_reply_changed_by_someone_else_meanwhile_is_not_overwritten(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        reply_id = inbox.save_reply(session, "Horaires", "De 7 h 30 à 15 h 30.", users.get(session, seeded["admin"])).id
    at = open_inbox(seeded["manager"])
    at.selectbox(key="saved_edit_choice").set_value(reply_id).run()
    at.text_area(key=f"saved_body_{reply_id}").input("De 7 h à 15 h, le samedi de 8 h à 12 h.")
    with db.session_scope() as session:  # an administrator changes it meanwhile
        inbox.save_reply(session, "Horaires", "De 7 h 30 à 16 h.", users.get(session, seeded["admin"]),
                         reply_id=reply_id)
    next(b for b in at.button if b.label == "Enregistrer").click().run()
    assert any("modifiée par quelqu'un d'autre" in e.value and "16 h" in e.value for e in at.error)
    assert at.text_area(key=f"saved_body_{reply_id}").value == "De 7 h à 15 h, le samedi de 8 h à 12 h."  # kept
    with db.session_scope() as session:
        assert session.get(SavedReply, reply_id).body == "De 7 h 30 à 16 h."  # theirs, not overwritten
        inbox.delete_reply(session, reply_id, users.get(session, seeded["admin"]))  # then deletes it
    at.run()
    next(b for b in at.button if b.label == "Enregistrer").click().run()
    assert any("n'existe plus" in e.value for e in at.error), [e.value for e in at.error]
    assert at.text_area(key=f"saved_body_{reply_id}").value == "De 7 h à 15 h, le samedi de 8 h à 12 h."


def test_a_new_saved_reply_leaves_a_blank_form(seeded) -> None:  # noqa: ANN001
    at = open_inbox(seeded["manager"])
    at.text_input(key="saved_title_None").input("Pièces à fournir")
    at.text_area(key="saved_body_None").input("Une pièce d'identité et le RIB.")
    next(b for b in at.button if b.label == "Enregistrer").click().run()
    assert not at.error and any("Pièces à fournir" in s.value for s in at.success)
    assert at.text_input(key="saved_title_None").value == "" and at.text_area(key="saved_body_None").value == ""
