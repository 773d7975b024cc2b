"""The Contacts and Segments screens, driven as a user would with AppTest."""

from __future__ import annotations

from sqlalchemy import func, select

from core import db
from core.models import AuditLog, Contact, Segment, SegmentMember
from tests.pages.conftest import app_as

CSV = ("Nom;Prénom;Téléphone;Agence\n"
       "Nguema;Awa;077 28 01 50;Oyem\n"
       "Mba;Éric;2.41077e+11;Franceville\n"
       "Ondo;Paul;07 28 01 50;Libreville\n"
       "Obame;Léa;+33 6 12 34 56 78;Paris\n").encode("cp1252")


def open_page(user_id: int, page: str):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page(page).run()


def test_import_a_file_through_the_screen(seeded) -> None:  # noqa: ANN001
    at = open_page(seeded["manager"], "pages/contacts.py")
    at.file_uploader(key="import_file").upload("assures.csv", CSV, "text/csv").run()
    assert not at.exception
    assert "séparateur point-virgule, encodage cp1252" in " ".join(c.value for c in at.caption)
    assert at.selectbox(key="map_2").value == "phone"
    at.checkbox(key="import_consent").check()
    at.text_input(key="import_new_segment").input("Import test")
    at.button(key="import_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Lignes lues"], metrics["Créés"], metrics["Doublons dans le fichier"], metrics["Rejetés"]) == \
        ("4", "2", "1", "1")
    assert "Numéro abîmé par Excel" in str(at.table[0].value)
    with db.session_scope() as session:
        awa = session.scalar(select(Contact).where(Contact.phone == "+24177280150"))
        assert awa.consent_status == "opted_in" and awa.first_name == "Awa"
        seg = session.scalar(select(Segment).where(Segment.name == "Import test"))
        assert session.scalar(select(func.count()).select_from(SegmentMember)
                              .where(SegmentMember.segment_id == seg.id)) == 2
        entry = session.scalar(select(AuditLog).where(AuditLog.action == "contacts_imported"))
        assert entry.actor_id == seeded["manager"]


def test_a_file_without_phone_column_is_explained(seeded) -> None:  # noqa: ANN001
    at = open_page(seeded["admin"], "pages/contacts.py")
    at.file_uploader(key="import_file").upload("x.csv", b"nom;prenom\nA;B\n", "text/csv").run()
    at.button(key="import_go").click().run()
    assert [e.value for e in at.error] == ["Indiquez une et une seule colonne « Téléphone »."]


def test_search_open_record_and_change_consent(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        contact = session.scalar(select(Contact).where(Contact.consent_status == "opted_in",
                                                       Contact.phone.startswith("+241")).limit(1))
        phone, contact_id = contact.phone, contact.id
    at = open_page(seeded["manager"], "pages/contacts.py")
    national = "0" + phone[4:6] + " " + phone[6:8] + " " + phone[8:10] + " " + phone[10:12]
    at.text_input(key="q").input(national if phone.startswith("+241") else phone).run()
    assert "1 contact(s) trouvé(s)" in " ".join(c.value for c in at.caption)
    at.selectbox(key="open_contact").select(contact_id).run()
    assert not at.exception
    assert any(phone in m.value for m in at.markdown)
    at.radio[0].set_value("opted_out")
    form_inputs = [t for t in at.text_input if t.label.startswith("Motif")]
    form_inputs[0].input("Demande au centre d'appels")
    next(b for b in at.button if b.label == "Enregistrer le consentement").click().run()
    assert not at.error
    with db.session_scope() as session:
        assert session.get(Contact, contact_id).consent_status == "opted_out"


def test_supervisor_reads_but_cannot_change(seeded) -> None:  # noqa: ANN001
    at = open_page(seeded["supervisor"], "pages/contacts.py")
    assert any("Consultation seule" in i.value for i in at.info)
    with db.session_scope() as session:
        contact_id = session.scalar(select(func.max(Contact.id)))
    at.selectbox(key="open_contact").select(contact_id).run()
    assert not [b for b in at.button if b.label in ("Enregistrer le consentement", "Effacer définitivement")]
    assert any("ne permet pas d'importer" in i.value for i in at.info)


def test_build_a_dynamic_segment_with_live_count(seeded) -> None:  # noqa: ANN001
    at = open_page(seeded["manager"], "pages/segments.py")
    assert not at.exception
    at.text_input(key="dyn_name").input("Pensionnés d'Oyem")
    at.selectbox(key="r0_0_f").select("attribute:type_assure").run()
    at.selectbox(key="r0_0_o").select("equals").run()
    at.text_input(key="r0_0_v").input("pensionné").run()
    at.button(key="g0_add").click().run()
    at.selectbox(key="r0_1_f").select("attribute:agence").run()
    at.text_input(key="r0_1_v").input("Oyem").run()
    with db.session_scope() as session:
        from core import segments

        rules = {"match": "all", "rules": [{"match": "all", "rules": [
            {"field": "attribute:type_assure", "operator": "equals", "value": "pensionné"},
            {"field": "attribute:agence", "operator": "equals", "value": "Oyem"}]}]}
        expected = segments.preview_rules(session, rules).count
    assert {m.label: m.value for m in at.metric}["Contacts correspondants"] == str(expected)
    at.button(key="dyn_save").click().run()
    assert not at.error, [e.value for e in at.error]
    with db.session_scope() as session:
        seg = session.scalar(select(Segment).where(Segment.name == "Pensionnés d'Oyem"))
        assert seg.kind == "dynamic" and len(seg.rules["rules"][0]["rules"]) == 2


def test_bad_rule_value_is_explained(seeded) -> None:  # noqa: ANN001
    at = open_page(seeded["manager"], "pages/segments.py")
    at.selectbox(key="r0_0_f").select("created_at").run()
    at.selectbox(key="r0_0_o").select("before").run()
    at.text_input(key="r0_0_v").input("demain").run()
    assert any("AAAA-MM-JJ" in w.value for w in at.warning)
    assert at.button(key="dyn_save").disabled


def test_whatsapp_marks_are_shown_and_cleared_by_a_manager(seeded) -> None:  # noqa: ANN001
    from core.timeutil import utcnow

    with db.session_scope() as session:
        contact_id = session.scalar(select(func.max(Contact.id)))
        contact = session.get(Contact, contact_id)
        contact.not_on_whatsapp_at = contact.marketing_refused_at = utcnow()
    # A supervisor reads the marks and cannot clear them.
    at = open_page(seeded["supervisor"], "pages/contacts.py")
    at.selectbox(key="open_contact").select(contact_id).run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("WhatsApp : pas sur WhatsApp depuis le ") and "écarté des campagnes." in w
               for w in warnings)
    assert any("refuse le marketing" in w and "écarté des campagnes marketing" in w for w in warnings)
    assert not [b for b in at.button if b.key and b.key.startswith("clear_")]
    # A manager clears one; the other stays.
    at = open_page(seeded["manager"], "pages/contacts.py")
    at.selectbox(key="open_contact").select(contact_id).run()
    at.button(key=f"clear_not_on_whatsapp_{contact_id}").click().run()
    assert not at.exception and not at.error
    with db.session_scope() as session:
        contact = session.get(Contact, contact_id)
        assert contact.not_on_whatsapp_at is None and contact.marketing_refused_at is not None
    assert not [w for w in at.warning if "pas sur WhatsApp depuis" in w.value]


def test_a_segment_used_by_an_unfinished_campaign_is_not_deleted(seeded) -> None:  # noqa: ANN001
    from core.models import Campaign, Segment

    with db.session_scope() as session:  # the demo's scheduled campaign uses it
        campaign = session.scalar(select(Campaign).where(Campaign.status == "scheduled"))
        segment_id = campaign.include_segment_ids[0]
        name = session.get(Segment, segment_id).name
    at = open_page(seeded["manager"], "pages/segments.py")
    at.selectbox(key="manage_segment").select(segment_id).run()
    at.button(key="segment_delete").click().run()
    at.button(key="segment_delete_yes").click().run()
    assert not at.exception
    assert any("sert à 1 campagne non terminée" in e.value for e in at.error), [e.value for e in at.error]
    with db.session_scope() as session:
        assert session.get(Segment, segment_id).name == name
