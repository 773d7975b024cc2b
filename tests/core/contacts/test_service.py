"""Search, the contact record, consent, erasure and safe exports, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from core import exports
from core.contacts import service
from core.contacts.search import search_text_for
from core.errors import NotFound, UserError
from core.models import AuditLog, ConsentEvent, Contact, Message, Recipient, Segment, SegmentMember
from core.timeutil import utcnow
from tests.factories import make_campaign, make_user


def add_contact(session, phone: str, first: str | None = None, last: str | None = None, **attrs) -> Contact:  # noqa: ANN001, ANN003
    contact = Contact(phone=phone, first_name=first, last_name=last, attributes=attrs,
                      search_text=search_text_for(first, last, phone, attrs))
    session.add(contact)
    session.flush()
    return contact


@pytest.fixture
def people(session):  # noqa: ANN001, ANN201
    return [
        add_contact(session, "+24177280150", "Awa", "Nguema", agence="Oyem", matricule="A1234567"),
        add_contact(session, "+24174000001", "Éric", "Mvé", agence="Lambaréné"),
        add_contact(session, "+24166000002", "Paul", "Ondo", agence="Libreville", type_assure="pensionné"),
        add_contact(session, "+33612345678", "Léa", "Obame", agence="Paris"),
    ]


@pytest.mark.parametrize("typed, expected", [
    ("077 28 01 50", ["+24177280150"]),
    ("+241 77 28 01 50", ["+24177280150"]),
    ("07 28 01 50", ["+24177280150"]),  # old plan typed by an agent
    ("280150", ["+24177280150"]),  # a few digits
    ("mve", ["+24174000001"]),  # accents folded
    ("ÉRIC", ["+24174000001"]),
    ("lambarene", ["+24174000001"]),  # attribute value
    ("a1234567", ["+24177280150"]),
    ("paul ondo", ["+24166000002"]),
    ("pension", ["+24166000002"]),
    ("+33 6 12 34 56 78", ["+33612345678"]),
    ("100%_", []),  # LIKE wildcards are literal
    ("zzz", []),
])
def test_search(session, people, typed, expected) -> None:  # noqa: ANN001
    page = service.search(session, service.SearchQuery(text=typed))
    assert sorted(c.phone for c in page.rows) == expected and page.total == len(expected)


def test_pagination_and_filters(session, people) -> None:  # noqa: ANN001
    for i in range(55):
        add_contact(session, f"+2416200{i:04d}", "X", f"Y{i}")
    first = service.search(session, service.SearchQuery(), page=0, page_size=50)
    second = service.search(session, service.SearchQuery(), page=1, page_size=50)
    assert first.total == 59 and first.pages == 2 and len(first.rows) == 50 and len(second.rows) == 9
    assert not {c.id for c in first.rows} & {c.id for c in second.rows}
    people[0].consent_status = "opted_in"
    session.flush()
    assert service.search(session, service.SearchQuery(consent="opted_in")).total == 1
    seg = Segment(name="S", kind="static")
    session.add(seg)
    session.flush()
    session.add(SegmentMember(segment_id=seg.id, contact_id=people[1].id))
    session.flush()
    assert [c.id for c in service.search(session, service.SearchQuery(segment_id=seg.id)).rows] == [people[1].id]
    assert service.counts(session) == {"total": 59, "opted_in": 1, "opted_out": 0, "unknown": 58}


def test_consent_changes_are_recorded_and_audited(session, people) -> None:  # noqa: ANN001
    agent = make_user(session, "manager")
    awa = people[0]
    with pytest.raises(UserError, match="motif"):
        service.set_consent(session, awa, "opted_out", reason=" ", actor=agent)
    service.set_consent(session, awa, "opted_out", reason="Demande au 1432", actor=agent)
    assert awa.consent_status == "opted_out" and awa.opted_out_at is not None
    with pytest.raises(UserError, match="déjà"):
        service.set_consent(session, awa, "opted_out", reason="encore", actor=agent)
    service.set_consent(session, awa, "opted_in", reason="Nouvel accord écrit", actor=agent)
    assert awa.opted_out_at is None
    history = service.record(session, awa.id).consent_history
    assert [(e.status, e.reason) for e in history] == [("opted_in", "Nouvel accord écrit"),
                                                        ("opted_out", "Demande au 1432")]
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-2:] == ["consent_opt_out", "consent_opt_in"]


def test_record_shows_segments_and_every_message(session, people) -> None:  # noqa: ANN001
    awa = people[0]
    campaign = make_campaign(session, "Paiement")
    session.add(Recipient(campaign_id=campaign.id, contact_id=awa.id, phone=awa.phone, status="read",
                          parameters={"body": ["Awa"]}, sent_at=utcnow() - timedelta(hours=2)))
    session.add(Message(contact_id=awa.id, direction="inbound", author="contact", text="Merci !",
                        created_at=utcnow() - timedelta(hours=1)))
    session.flush()
    rec = service.record(session, awa.id)
    assert [(m["direction"], m["text"]) for m in rec.messages] == [("inbound", "Merci !"),
                                                                   ("outbound", "Campagne « Paiement »")]


def test_erasure_removes_personal_data_and_keeps_figures(session, people) -> None:  # noqa: ANN001
    admin = make_user(session, "admin")
    awa = people[0]
    campaign = make_campaign(session, "C")
    session.add(Recipient(campaign_id=campaign.id, contact_id=awa.id, phone=awa.phone, status="delivered",
                          parameters={"body": ["Awa"]}))
    session.add(Message(contact_id=awa.id, direction="inbound", author="contact", text="Je suis Awa Nguema"))
    session.add(ConsentEvent(contact_id=awa.id, status="opted_in", source="x", reason="Awa a signé"))
    seg = Segment(name="S", kind="static")
    session.add(seg)
    session.flush()
    session.add(SegmentMember(segment_id=seg.id, contact_id=awa.id))
    session.flush()
    with pytest.raises(UserError, match="référence"):
        service.erase(session, awa, reason="", actor=admin)
    service.erase(session, awa, reason="Demande DPO n°12", actor=admin)
    session.flush()
    session.expire_all()
    erased = session.get(Contact, awa.id)
    assert erased.first_name is None and erased.last_name is None and erased.attributes == {}
    assert "+24177280150" not in erased.phone and erased.search_text == "" and erased.consent_status == "opted_out"
    ledger = session.scalar(select(Recipient))
    assert ledger.status == "delivered" and ledger.parameters == {} and "77280150" not in ledger.phone
    assert session.scalar(select(Message.text)) is None
    assert session.scalar(select(ConsentEvent.reason)) is None
    assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0
    assert service.search(session, service.SearchQuery(text="awa")).total == 0
    with pytest.raises(NotFound):
        service.get(session, awa.id)
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "contact_erased"))
    assert entry.target_id == str(awa.id) and "Awa" not in str(entry.details)
    assert service.counts(session)["total"] == 3


def test_exports_are_safe_against_formula_injection() -> None:
    header = ["telephone", "nom"]
    rows = [["+24177280150", "=HYPERLINK(\"http://x\")"], ["+33612345678", "@SUM(A1)"], ["x", "-1+2"],
            ["y", "Nguema"]]
    parsed = list(csv.reader(io.StringIO(exports.to_csv(header, rows).decode("utf-8-sig")), delimiter=";"))
    assert parsed[1] == ["+24177280150", "'=HYPERLINK(\"http://x\")"]  # a number runs nothing: left as is
    assert parsed[2][1] == "'@SUM(A1)" and parsed[3][1] == "'-1+2" and parsed[4][1] == "Nguema"
    ws = load_workbook(io.BytesIO(exports.to_xlsx(header, rows))).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[1] == ["+24177280150", "'=HYPERLINK(\"http://x\")"] and values[4] == ["y", "Nguema"]
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_export_of_a_search_streams_every_match(session, people) -> None:  # noqa: ANN001
    data, count = service.export(session, service.SearchQuery(text="a"), "csv")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert count == len(parsed) - 1 == 4  # every contact has an "a" somewhere: Awa, Lambaréné, Paul, Léa
    assert parsed[0][:6] == ["telephone", "prenom", "nom", "langue", "consentement", "ajoute_le"]
    assert "agence" in parsed[0] and parsed[1][0] == "+24177280150"
    assert {row[4] for row in parsed[1:]} <= {"Consentement donné", "Désinscrit", "Inconnu"}  # never `opted_in`
    data, count = service.export(session, service.SearchQuery(), "xlsx")
    ws = load_workbook(io.BytesIO(data)).active
    assert count == 4 and ws.max_row == 5


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imports_again_as_it_was_and_hostile_cells_stay_text(session, tmp_path, fmt) -> None:  # noqa: ANN001
    from core.contacts.importer import import_file

    hostile = Contact(phone="+24177280199", first_name="=HYPERLINK(\"http://x\",\"clic\")", last_name="@SUM(A1)",
                      attributes={"agence": "-1+2", "note": "+33 6 12"}, consent_status="opted_in")
    session.add(hostile)
    session.flush()
    data, _ = service.export(session, service.SearchQuery(text="77280199"), fmt)
    session.delete(hostile)
    session.flush()
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(data)
    result = import_file(session, path, rejects_dir=tmp_path)
    assert result.rejected == 0
    back = session.scalar(select(Contact).where(Contact.phone == "+24177280199"))
    assert (back.first_name, back.last_name) == ("=HYPERLINK(\"http://x\",\"clic\")", "@SUM(A1)")
    assert back.attributes["agence"] == "-1+2" and back.attributes["note"] == "+33 6 12"
    assert back.consent_status == "opted_in"  # written « Consentement donné », read back as such


def test_rejected_rows_are_written_formula_safe(session, tmp_path) -> None:  # noqa: ANN001
    from core.contacts.importer import import_file

    path = tmp_path / "c.csv"
    path.write_text("telephone;prenom\n=1+1;=HYPERLINK(\"http://x\")\n", encoding="utf-8")
    result = import_file(session, path, rejects_dir=tmp_path)
    with result.rejects_csv.open(encoding="utf-8-sig") as f:
        rejected = list(csv.reader(f, delimiter=";"))
    assert rejected[1][2:] == ["'=1+1", "'=HYPERLINK(\"http://x\")"]
