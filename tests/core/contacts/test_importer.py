"""Contact import on SQLite and PostgreSQL: formats, mapping, rejections, duplicates, consent,
segments, and all-or-nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core.contacts import importer
from core.contacts.importer import ImportOptions, import_file
from core.errors import UserError
from core.models import AuditLog, ConsentEvent, Contact, Segment, SegmentMember

HEADER = ["Nom", "Prénom", "Téléphone", "Agence", "Type d'assuré"]
ROWS = [
    ["Nguema", "Awa", "077 28 01 50", "Oyem", "pensionné"],
    ["Ondo", "Paul", "07 28 01 50", "Libreville", "assuré"],  # old plan of the same number: duplicate
    ["Mba", "Éric", "2.41077e+11", "Franceville", "assuré"],  # mangled by Excel
    ["Essono", "", "011 76 12 34", "Libreville", "employeur"],  # fixed line
    ["Obame", "Léa", "+33 6 12 34 56 78", "Paris", "pensionné"],  # lives abroad
    ["Koumba", "Anne", "", "Mouila", "assuré"],  # empty phone
    ["Mabika", "Jean", "(+241) 66-12-34-56", "Lambaréné", "assuré"],
]


def write_csv(path: Path, rows: list[list[str]], *, sep: str = ";", encoding: str = "utf-8",
              header: list[str] = HEADER) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def count(session, model) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("sep", [";", ",", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_separators_and_encodings(session, tmp_path, sep, encoding) -> None:  # noqa: ANN001
    path = write_csv(tmp_path / "c.csv", ROWS, sep=sep, encoding=encoding)
    result = import_file(session, path)
    assert result.summary() == {"rows": 7, "created": 3, "updated": 0, "unchanged": 0, "duplicates_in_file": 1,
                                "rejected": 3, "rejected_by_reason": {"excel_mangled": 1, "fixed_line": 1, "empty": 1}}
    assert result.separator == sep and result.encoding.replace("-sig", "") == encoding.replace("-sig", "")
    awa = session.scalar(select(Contact).where(Contact.phone == "+24177280150"))
    assert (awa.first_name, awa.last_name) == ("Awa", "Nguema")
    assert awa.attributes == {"agence": "Oyem", "type_d_assure": "pensionné"}
    lea = session.scalar(select(Contact).where(Contact.phone == "+33612345678"))
    assert lea.first_name == "Léa"
    assert session.scalar(select(Contact.attributes).where(Contact.phone == "+24166123456"))["agence"] == "Lambaréné"


def test_rejected_rows_keep_their_line_and_reason(session, tmp_path) -> None:  # noqa: ANN001
    result = import_file(session, write_csv(tmp_path / "c.csv", ROWS))
    with result.rejects_csv.open(encoding="utf-8-sig") as f:
        rejected = list(csv.reader(f, delimiter=";"))
    assert rejected[0] == ["ligne", "motif", *HEADER]
    assert [(r[0], r[1], r[2]) for r in rejected[1:]] == [
        ("4", "Numéro abîmé par Excel (notation scientifique, chiffres perdus)", "Mba"),
        ("5", "Ligne fixe : pas de WhatsApp", "Essono"),
        ("7", "Numéro vide", "Koumba"),
    ]


def test_xlsx_with_numbers_as_phones(session, tmp_path) -> None:  # noqa: ANN001
    wb = Workbook()
    ws = wb.active
    ws.append(["telephone", "prenom", "nom", "matricule"])
    ws.append([24177280150, "Awa", "Nguema", 1234567])
    ws.append([77280151, "Paul", "Ondo", "A7654321"])
    ws.append(["074 12 34 56", "Éric", "Mba", None])
    ws.append([None, None, None, None])  # blank row is skipped
    ws.append(["pas de numéro", "X", "Y", "Z"])
    wb.save(tmp_path / "c.xlsx")
    result = import_file(session, tmp_path / "c.xlsx")
    assert (result.rows, result.created, result.rejected) == (4, 3, 1)
    assert result.rejected_by_reason == {"not_a_number": 1}
    phones = set(session.scalars(select(Contact.phone)).all())
    assert phones == {"+24177280150", "+24177280151", "+24174123456"}
    assert session.scalar(select(Contact.attributes).where(Contact.phone == "+24177280150")) == {"matricule": "1234567"}


def test_mapping_by_name_and_by_option(tmp_path) -> None:  # noqa: ANN001
    header = ["Numéro", "PRENOM", "Nom de famille", "Langue", "Agence CNSS", "Consentement"]
    assert importer.auto_mapping(header) == {
        "Numéro": "phone", "PRENOM": "first_name", "Nom de famille": "last_name", "Langue": "language",
        "Agence CNSS": "attribute:agence_cnss", "Consentement": "consent"}
    mapping = importer.parse_map_option(["Agence CNSS=attribute:agence", "Langue=ignore"], header)
    assert mapping["Agence CNSS"] == "attribute:agence" and mapping["Langue"] == "ignore"
    with pytest.raises(UserError, match="Colonne inconnue"):
        importer.parse_map_option(["Inconnue=phone"], header)
    with pytest.raises(UserError, match="COLONNE=CIBLE"):
        importer.parse_map_option(["phone"], header)


def test_a_file_without_phone_column_changes_nothing(session, tmp_path) -> None:  # noqa: ANN001
    path = write_csv(tmp_path / "c.csv", [["a", "b"]], header=["Nom", "Prénom"])
    with pytest.raises(UserError, match="Téléphone"):
        import_file(session, path)
    assert count(session, Contact) == 0


@pytest.mark.parametrize("content, message", [
    (b"", "vide"),
    (b"telephone;nom\n", "aucune ligne"),
    (b"PK\x03\x04 not really a zip", "Excel"),
])
def test_bad_files_are_refused_in_french(session, tmp_path, content, message) -> None:  # noqa: ANN001
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        import_file(session, path)
    session.rollback()  # what the app's session scope does on any error
    assert count(session, Contact) == 0


def test_keep_or_update_existing_and_unchanged(session, tmp_path) -> None:  # noqa: ANN001
    import_file(session, write_csv(tmp_path / "a.csv", [["Nguema", "Awa", "077280150", "Oyem", "pensionné"]]))
    changed = [["Nguema", "Awa Marie", "+241 77 28 01 50", "Libreville", "pensionné"],
               ["Ondo", "Paul", "074000001", "Oyem", "assuré"]]
    kept = import_file(session, write_csv(tmp_path / "b.csv", changed))
    assert (kept.created, kept.updated, kept.unchanged) == (1, 0, 1)
    assert session.scalar(select(Contact.first_name).where(Contact.phone == "+24177280150")) == "Awa"
    updated = import_file(session, write_csv(tmp_path / "b.csv", changed), ImportOptions(update_existing=True))
    assert (updated.created, updated.updated, updated.unchanged) == (0, 1, 1)
    awa = session.scalar(select(Contact).where(Contact.phone == "+24177280150"))
    assert awa.first_name == "Awa Marie" and awa.attributes["agence"] == "Libreville"
    assert "libreville" in awa.search_text and "oyem" not in awa.search_text
    again = import_file(session, write_csv(tmp_path / "b.csv", changed), ImportOptions(update_existing=True))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_opted_out_contacts_stay_opted_out(session, tmp_path) -> None:  # noqa: ANN001
    header = ["telephone", "prenom", "consentement"]
    import_file(session, write_csv(tmp_path / "a.csv", [["077280150", "Awa", "non"], ["074000001", "Paul", "oui"],
                                                        ["066000002", "Léa", ""]], header=header))
    statuses = dict(session.execute(select(Contact.phone, Contact.consent_status)).all())
    assert statuses == {"+24177280150": "opted_out", "+24174000001": "opted_in", "+24166000002": "unknown"}
    result = import_file(session, write_csv(tmp_path / "b.csv", [["077280150", "Awa", "oui"],
                                                                 ["066000002", "Léa", "oui"]], header=header),
                         ImportOptions(update_existing=True, consent="opted_in"))
    statuses = dict(session.execute(select(Contact.phone, Contact.consent_status)).all())
    assert statuses["+24177280150"] == "opted_out"  # whatever the file says
    assert statuses["+24166000002"] == "opted_in"
    assert result.updated == 1
    events = session.execute(select(ConsentEvent.status).join(Contact, Contact.id == ConsentEvent.contact_id)
                             .where(Contact.phone == "+24166000002")).scalars().all()
    assert events == ["opted_in"]


def test_default_consent_for_new_contacts(session, tmp_path) -> None:  # noqa: ANN001
    import_file(session, write_csv(tmp_path / "a.csv", ROWS[:1]), ImportOptions(consent="opted_in"))
    awa = session.scalar(select(Contact))
    assert awa.consent_status == "opted_in" and awa.consent_source == "import : a.csv" and awa.consent_at is not None
    assert count(session, ConsentEvent) == 1


def test_segment_is_created_and_filled(session, tmp_path) -> None:  # noqa: ANN001
    result = import_file(session, write_csv(tmp_path / "a.csv", ROWS), ImportOptions(segment="Pensionnés 2026"))
    segment = session.scalar(select(Segment).where(Segment.name == "Pensionnés 2026"))
    assert segment.id == result.segment_id and segment.kind == "static"
    assert count(session, SegmentMember) == 3
    import_file(session, write_csv(tmp_path / "a.csv", ROWS), ImportOptions(segment="Pensionnés 2026"))
    assert count(session, SegmentMember) == 3  # no duplicate membership
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "contacts_imported")).all()
    assert len(audit) == 2 and audit[0].details["created"] == 3


def test_dynamic_segment_cannot_receive_an_import(session, tmp_path) -> None:  # noqa: ANN001
    session.add(Segment(name="Dyn", kind="dynamic", rules={"match": "all", "rules": []}))
    session.flush()
    with pytest.raises(UserError, match="dynamique"):
        import_file(session, write_csv(tmp_path / "a.csv", ROWS), ImportOptions(segment="Dyn"))
    session.rollback()


def test_a_crash_midway_leaves_the_database_as_it_was(db_url, tmp_path) -> None:  # noqa: ANN001
    from core import db

    rows = [["N", "P", f"077{i:06d}", "Oyem", "assuré"] for i in range(25_000)]
    path = write_csv(tmp_path / "big.csv", rows)
    calls = []

    def explode(n: int, share: float | None, phase: str) -> None:
        calls.append(n)
        if n >= 20_000:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        with db.session_scope() as session:
            import_file(session, path, ImportOptions(segment="Nouveau"), progress=explode)
    with db.session_scope() as session:
        assert count(session, Contact) == 0 and count(session, Segment) == 0 and count(session, AuditLog) == 0
    assert calls == [10_000, 20_000]
    # and the same file imports fine afterwards
    with db.session_scope() as session:
        assert import_file(session, path).created == 25_000


def test_crash_after_the_contacts_are_written_rolls_back(db_url, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from core import db

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("lost connection")

    monkeypatch.setattr(importer.audit, "record", fail)
    with pytest.raises(RuntimeError):
        with db.session_scope() as session:
            import_file(session, write_csv(tmp_path / "a.csv", ROWS), ImportOptions(segment="S"))
    with db.session_scope() as session:
        assert count(session, Contact) == 0 and count(session, SegmentMember) == 0


def test_cli_import_json(db_url, tmp_path, capsys) -> None:  # noqa: ANN001
    import json

    from cli import main

    path = write_csv(tmp_path / "a.csv", ROWS)
    rejects = tmp_path / "rejets.csv"
    assert main(["contacts", "import", str(path), "--segment", "CLI", "--json", "--rejects", str(rejects)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"rows": 7, "created": 3, "updated": 0, "unchanged": 0, "duplicates_in_file": 1, "rejected": 3,
                    "rejected_by_reason": {"excel_mangled": 1, "fixed_line": 1, "empty": 1}}
    assert rejects.read_text(encoding="utf-8-sig").count("\n") == 4
    assert main(["contacts", "import", str(path), "--update-existing", "--map", "Agence=ignore", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 3
    assert main(["contacts", "import", str(tmp_path / "absent.csv"), "--json"]) == 1
    assert "File not found" in json.loads(capsys.readouterr().out)["error"]


def test_a_large_import_takes_the_bulk_path_and_stays_searchable(session, tmp_path) -> None:  # noqa: ANN001
    from core.contacts import service

    rows = [[f"Nom{i % 97}", f"Prénom{i}", f"+241 66 {i // 10000:02d} {(i // 100) % 100:02d} {i % 100:02d}",
             "Oyem" if i % 2 else "Mouila", "assuré"] for i in range(60_000)]
    result = import_file(session, write_csv(tmp_path / "big.csv", rows), ImportOptions(segment="Gros fichier"))
    assert (result.rows, result.created, result.rejected) == (60_000, 60_000, 0)
    assert set(result.phases) == {"read_and_stage", "write_contacts", "consent_segment_analyze"}
    found = service.search(session, service.SearchQuery(text="prénom45678"))
    assert [c.phone for c in found.rows] == ["+24166045678"]
    assert count(session, SegmentMember) == 60_000
