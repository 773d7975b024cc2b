"""Every path that writes a contact keeps its search text, so the contacts screen and the agents'
inbox find the person by name, accents and case aside. One test per path, on both databases."""

from __future__ import annotations

from sqlalchemy import select

from core import demo, inbound
from core.contacts import service
from core.contacts.importer import ImportOptions, import_file
from core.contacts.search import search_text_for
from core.models import Contact
from core.text import fold


def found(session, words: str) -> list[str]:  # noqa: ANN001
    page = service.search(session, service.SearchQuery(text=words))
    return [c.phone for c in page.rows]


def test_the_demo_contacts_are_searchable(session) -> None:  # noqa: ANN001
    demo.seed(session, contacts=60, random_seed=7)
    contacts = session.scalars(select(Contact)).all()
    assert contacts and all(fold(c.last_name) in c.search_text and c.attributes["matricule"].lower() in c.search_text
                            for c in contacts)
    someone = next(c for c in contacts if c.first_name)
    assert someone.phone in found(session, someone.first_name.upper())


def test_an_imported_contact_is_searchable(session, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "contacts.csv"
    path.write_text("telephone;prenom;nom\n077281501;Élodie;Mba Obame\n", encoding="utf-8")
    import_file(session, path, ImportOptions())
    assert found(session, "elodie mba") == ["+24177281501"]


def test_a_person_new_to_us_writing_in_is_searchable(session) -> None:  # noqa: ANN001
    event = inbound.Event("ev-new", "message.received", {
        "event_id": "ev-new", "event_type": "message.received",
        "contact": {"id": 7, "phone": "+24166112233", "firstName": "Jean-Noël", "lastName": "Ndong"},
        "message": {"messageId": "in-1", "traffic": "incoming", "message": {"type": "text", "text": "Bonjour"}}})
    inbound.store(session, [event])
    inbound.process_pending(session)
    assert found(session, "jean-noel ndong") == ["+24166112233"]


def test_a_contact_renamed_by_respondio_is_searchable_by_the_new_name(session) -> None:  # noqa: ANN001
    session.add(Contact(phone="+24177400500", first_name="Awa", search_text=search_text_for("Awa", None,
                                                                                            "+24177400500", {})))
    session.flush()
    event = inbound.Event("ev-upd", "contact.updated", {
        "event_id": "ev-upd", "event_type": "contact.updated",
        "contact": {"id": 9, "phone": "+24177400500", "firstName": "Awa", "lastName": "Essono"}})
    inbound.store(session, [event])
    inbound.process_pending(session)
    assert found(session, "essono") == ["+24177400500"]


def test_a_contact_edited_on_screen_is_searchable_by_the_new_name(session) -> None:  # noqa: ANN001
    contact = Contact(phone="+24177400600", first_name="Paul", search_text="")
    session.add(contact)
    session.flush()
    service.update_fields(session, contact, first_name="Paul", last_name="Mintsa", language="fr",
                          attributes={"matricule": "A123"}, actor=None)
    assert found(session, "mintsa") == ["+24177400600"]
    assert found(session, "a123") == ["+24177400600"]


def test_an_erased_contact_is_found_by_nothing(session) -> None:  # noqa: ANN001
    contact = Contact(phone="+24177400700", first_name="Lise", search_text=search_text_for("Lise", None,
                                                                                           "+24177400700", {}))
    session.add(contact)
    session.flush()
    service.erase(session, contact, reason="demande n° 12", actor=None)
    assert found(session, "lise") == []
