"""Contact import: a streamed file, phones normalized once, then a few set-based statements.

Rows are read one at a time, normalized, deduplicated on their E.164 number and loaded into a
temporary staging table (COPY on PostgreSQL); creating, updating and adding to a segment are then
each one statement. Everything happens in the caller's transaction: a crash or a bad file leaves
the database as it was.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from core import audit, exports, labels, phones
from core.contacts.reader import Table, open_table
from core.contacts.search import search_text_for
from core.errors import UserError
from core.models import ConsentStatus, Contact, Segment, SegmentKind, User, UTCDateTime
from core.text import fold, slug
from core.timeutil import utcnow

log = logging.getLogger(__name__)

FIELDS = ("phone", "first_name", "last_name", "language", "consent")
_ALIASES = {
    "phone": {"phone", "telephone", "tel", "numero", "num", "mobile", "portable", "whatsapp", "gsm", "cellulaire",
              "numero_de_telephone", "numero_telephone", "telephone_mobile", "phone_number", "msisdn"},
    "first_name": {"first_name", "firstname", "prenom", "prenoms"},
    "last_name": {"last_name", "lastname", "nom", "nom_de_famille", "surname"},
    "language": {"language", "langue", "lang"},
    "consent": {"consent", "consentement", "opt_in", "optin", "accord_whatsapp"},
}
_CONSENT_VALUES = {
    "oui": "opted_in", "yes": "opted_in", "o": "opted_in", "y": "opted_in", "1": "opted_in", "true": "opted_in",
    "vrai": "opted_in", "opted_in": "opted_in", "accepte": "opted_in",
    "non": "opted_out", "no": "opted_out", "n": "opted_out", "0": "opted_out", "false": "opted_out",
    "faux": "opted_out", "opted_out": "opted_out", "stop": "opted_out", "refuse": "opted_out",
    # As the contacts export writes them (labels.CONSENT): an export imports again as it was.
    "consentement donne": "opted_in", "desinscrit": "opted_out",
}
BATCH = 5000

Progress = Callable[[int, float | None, str], None]


def auto_mapping(header: list[str]) -> dict[str, str]:
    """Each column's target from its name: known names become fields, the rest attributes."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        key = slug(column)
        target = next((f for f, names in _ALIASES.items() if key in names and f not in taken), None)
        if target:
            taken.add(target)
            mapping[column] = target
        else:
            mapping[column] = f"attribute:{key or 'attribut'}"
    return mapping


def parse_map_option(values: list[str], header: list[str]) -> dict[str, str]:
    """`--map "Numéro WhatsApp=phone" --map "Agence=attribute:agence" --map "Note=ignore"`."""
    mapping = auto_mapping(header)
    for item in values:
        column, sep, target = item.partition("=")
        if not sep:
            raise UserError(f"--map attend COLONNE=CIBLE, reçu « {item} ».")
        column, target = column.strip(), target.strip()
        if column not in header:
            raise UserError(f"Colonne inconnue dans --map : « {column} ». Colonnes du fichier : {', '.join(header)}.")
        if target == "attribute":
            target = f"attribute:{slug(column)}"
        for other, other_target in list(mapping.items()):
            if other != column and other_target == target and target in FIELDS:
                mapping[other] = f"attribute:{slug(other)}"
        mapping[column] = target
    return mapping


def validate_mapping(mapping: dict[str, str], header: list[str]) -> None:
    targets = [t for c, t in mapping.items() if c in header]
    if targets.count("phone") != 1:
        raise UserError("Indiquez une et une seule colonne « Téléphone ».")
    for field_name in FIELDS:
        if targets.count(field_name) > 1:
            raise UserError(f"La cible « {labels.IMPORT_FIELD[field_name]} » est choisie pour plusieurs colonnes.")
    for target in targets:
        if target in FIELDS or target == "ignore":
            continue
        if not target.startswith("attribute:") or not slug(target.split(":", 1)[1]):
            raise UserError(f"Cible inconnue : « {target} ».")
    attrs = [t for t in targets if t.startswith("attribute:")]
    if len(attrs) != len(set(attrs)):
        raise UserError("Deux colonnes ont le même nom d'attribut.")


@dataclass
class ImportOptions:
    mapping: dict[str, str] | None = None  # column -> target; None: from the column names
    update_existing: bool = False
    segment: str | None = None
    consent: str = ConsentStatus.UNKNOWN.value  # for new contacts when the file has no consent column
    source: str = "import"


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_in_file: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejects_csv: Path | None = None
    segment_id: int | None = None
    seconds: float = 0.0
    encoding: str | None = None
    separator: str | None = None
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks and logs

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "duplicates_in_file": self.duplicates_in_file, "rejected": self.rejected,
                "rejected_by_reason": dict(self.rejected_by_reason)}


_STAGING_COLUMNS = ("line", "phone", "first_name", "last_name", "language", "consent", "attributes", "search_text")


def _create_staging(session: Session) -> None:
    session.execute(text("DROP TABLE IF EXISTS import_staging"))
    session.execute(text(
        "CREATE TEMPORARY TABLE import_staging (line INTEGER NOT NULL, phone VARCHAR(20) NOT NULL, "
        "first_name VARCHAR(120), last_name VARCHAR(120), language VARCHAR(8), consent VARCHAR(16), "
        "attributes TEXT NOT NULL, search_text TEXT NOT NULL)"
    ))


class _StagingWriter:
    """Loads staging rows in batches: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.batch: list[tuple[Any, ...]] = []
        self._copy_cm = None
        self._copy = None
        if self.pg:
            dbapi = session.connection().connection.driver_connection
            assert dbapi is not None  # a live connection, just checked out
            self._cursor = dbapi.cursor()
            self._copy_cm = self._cursor.copy(f"COPY import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN")
            self._copy = self._copy_cm.__enter__()

    def add(self, row: tuple[Any, ...]) -> None:
        if self._copy is not None:
            self._copy.write_row(row)
            return
        self.batch.append(row)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            placeholders = ", ".join(f":{c}" for c in _STAGING_COLUMNS)
            self.session.execute(
                text(f"INSERT INTO import_staging ({', '.join(_STAGING_COLUMNS)}) VALUES ({placeholders})"),
                [dict(zip(_STAGING_COLUMNS, r, strict=True)) for r in self.batch],
            )
            self.batch.clear()

    def close(self, error: BaseException | None = None) -> None:
        if self._copy_cm is not None:
            self._copy_cm.__exit__(type(error) if error else None, error, None)
            self._copy_cm = self._copy = None
            self._cursor.close()
        elif error is None:
            self.flush()


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text_value = str(value).strip()
    return text_value or None


def _consent_value(raw: str | None) -> str | None:
    return _CONSENT_VALUES.get(fold(raw).strip()) if raw else None


def import_file(
    session: Session,
    path: Path,
    options: ImportOptions | None = None,
    *,
    filename: str | None = None,
    actor: User | None = None,
    progress: Progress | None = None,
    rejects_dir: Path | None = None,
) -> ImportResult:
    """Import one file into the contact base, all or nothing (the caller's transaction)."""
    options = options or ImportOptions()
    if options.consent not in {c.value for c in ConsentStatus}:
        raise UserError(f"Consentement inconnu : « {options.consent} ».")
    started = time.perf_counter()
    table = open_table(path, filename)
    try:
        mapping = options.mapping or auto_mapping(table.header)
        validate_mapping(mapping, table.header)
        result = ImportResult(encoding=table.encoding, separator=table.separator)
        _create_staging(session)
        writer = _StagingWriter(session)
        error: BaseException | None = None
        try:
            _load(table, mapping, options, writer, result, progress, rejects_dir, filename or path.name)
        except BaseException as err:
            error = err
            raise
        finally:
            writer.close(error)
    finally:
        table.close()
    result.phases["read_and_stage"] = time.perf_counter() - started
    if progress:
        progress(result.rows, 1.0, "Enregistrement dans la base")
    _apply(session, options, result, actor, filename or path.name)
    session.execute(text("DROP TABLE IF EXISTS import_staging"))
    result.seconds = time.perf_counter() - started
    log.info("Imported %s in %.1f s %s: %s", filename or path.name, result.seconds,
             {k: round(v, 1) for k, v in result.phases.items()}, result.summary())
    return result


def _load(table: Table, mapping: dict[str, str], options: ImportOptions, writer: _StagingWriter,
          result: ImportResult, progress: Progress | None, rejects_dir: Path | None, name: str) -> None:
    index = {target: table.header.index(col) for col, target in mapping.items() if target in FIELDS}
    attributes = [(table.header.index(col), target.split(":", 1)[1]) for col, target in mapping.items()
                  if target.startswith("attribute:")]
    phone_i = index["phone"]
    first_i, last_i = index.get("first_name"), index.get("last_name")
    lang_i, consent_i = index.get("language"), index.get("consent")
    seen: set[str] = set()
    reasons: Counter[str] = Counter()
    rejects_file = None
    rejects_writer = None
    width = len(table.header)
    for line, row in table.rows:
        result.rows += 1
        row = [exports.unquote(c) for c in row]  # our own exports come back as they were written
        if len(row) < width:
            row = row + [None] * (width - len(row))
        checked = phones.normalize(row[phone_i])
        if not checked.ok:
            assert checked.reason is not None
            reasons[checked.reason] += 1
            if rejects_writer is None:
                rejects_file = tempfile.NamedTemporaryFile(
                    "w", encoding="utf-8-sig", newline="", suffix=".csv", prefix="rejets-",
                    dir=rejects_dir, delete=False)
                rejects_writer = csv.writer(rejects_file, delimiter=";")
                rejects_writer.writerow(["ligne", "motif", *(exports.safe_cell(h) for h in table.header)])
            rejects_writer.writerow([line, phones.reason_label(checked.reason),
                                     *("" if c is None else exports.safe_cell(c) for c in row[:width])])
        else:
            e164 = checked.e164
            assert e164 is not None
            if e164 in seen:
                result.duplicates_in_file += 1
            else:
                seen.add(e164)
                first = _cell(row[first_i]) if first_i is not None else None
                last = _cell(row[last_i]) if last_i is not None else None
                language = (_cell(row[lang_i]) or "").lower()[:8] or None if lang_i is not None else None
                consent = _consent_value(_cell(row[consent_i])) if consent_i is not None else None
                attrs = {key: value for i, key in attributes if (value := _cell(row[i])) is not None}
                writer.add((line, e164, first[:120] if first else None, last[:120] if last else None, language,
                            consent, json.dumps(attrs), search_text_for(first, last, e164, attrs)))
        if progress and result.rows % 10_000 == 0:
            progress(result.rows, table.progress(), "Lecture du fichier")
    if rejects_file is not None:
        rejects_file.close()
        result.rejects_csv = Path(rejects_file.name)
    result.rejected = sum(reasons.values())
    result.rejected_by_reason = dict(reasons.most_common())
    if result.rows == 0:
        raise UserError(f"Le fichier « {name} » ne contient aucune ligne de données.")


def _apply(session: Session, options: ImportOptions, result: ImportResult, actor: User | None, name: str) -> None:
    pg = session.get_bind().dialect.name == "postgresql"
    now = utcnow()
    ts = UTCDateTime()
    params = {"now": now, "source": f"{options.source} : {name}"[:64], "default_consent": options.consent}

    def run(sql: str, **extra: Any) -> Any:
        stmt = text(sql)
        if ":now" in sql:
            stmt = stmt.bindparams(bindparam("now", type_=ts))
        values = {k: v for k, v in {**params, **extra}.items() if f":{k}" in sql}
        return session.execute(stmt, values)

    clock = time.perf_counter()
    staged = session.execute(text("SELECT count(*) FROM import_staging")).scalar_one()
    if pg:
        session.execute(text("ANALYZE import_staging"))
    # Existing contacts first: the join only finds contacts that were there before this import.
    if options.update_existing:
        result.updated = _update_existing(session, run, pg)

    attrs = "CAST(s.attributes AS JSONB)" if pg else "s.attributes"
    consent = "COALESCE(s.consent, :default_consent)"
    insert_new = (
        "INSERT INTO contacts (phone, first_name, last_name, language, attributes, consent_status, consent_source, "
        "consent_at, opted_out_at, search_text, created_at, updated_at) "
        f"SELECT s.phone, s.first_name, s.last_name, COALESCE(s.language, 'fr'), {attrs}, {consent}, :source, "
        f"CASE WHEN {consent} <> 'unknown' THEN :now END, CASE WHEN {consent} = 'opted_out' THEN :now END, "
        "s.search_text, :now, :now FROM import_staging s "
        "WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.phone = s.phone)"
    )
    if pg:
        # One pass: the new contacts and their first consent event.
        result.created = run(
            f"WITH new AS ({insert_new} RETURNING id, consent_status), "
            "events AS (INSERT INTO consent_events (contact_id, status, source, at) "
            "SELECT id, consent_status, :source, :now FROM new WHERE consent_status <> 'unknown') "
            "SELECT count(*) FROM new").scalar_one()
    else:
        result.created = run(insert_new).rowcount
        # The contacts this import created are the ones stamped with its own time.
        run("INSERT INTO consent_events (contact_id, status, source, at) "
            "SELECT c.id, c.consent_status, :source, :now FROM contacts c "
            "WHERE c.created_at = :now AND c.consent_status <> 'unknown'")
    result.unchanged = staged - result.created - result.updated
    result.phases["write_contacts"] = time.perf_counter() - clock
    clock = time.perf_counter()

    if options.segment:
        result.segment_id = _segment_id(session, options.segment, actor)
        run("INSERT INTO segment_members (segment_id, contact_id, added_at) "
            "SELECT :segment_id, c.id, :now FROM import_staging s JOIN contacts c ON c.phone = s.phone WHERE TRUE "
            "ON CONFLICT DO NOTHING", segment_id=result.segment_id)
    if pg and result.created > 10_000:
        session.execute(text("ANALYZE contacts"))  # plans stay good right after a large import
    result.phases["consent_segment_analyze"] = time.perf_counter() - clock
    audit.record(session, "contacts_imported", actor=actor, actor_email=None if actor else "cli",
                 target_type="segment" if result.segment_id else None, target_id=result.segment_id,
                 details={"file": name, **result.summary()})


def _update_existing(session: Session, run: Callable[..., Any], pg: bool) -> int:
    """Fill in names, language and attributes from the file; opted-out contacts stay opted out."""
    if pg:
        merged_attrs = "c.attributes || CAST(s.attributes AS JSONB)"
        differs = "IS DISTINCT FROM"
        attrs_changed = f"({merged_attrs}) <> c.attributes"
    else:
        merged_attrs = "json_patch(c.attributes, s.attributes)"
        differs = "IS NOT"
        attrs_changed = f"{merged_attrs} <> json(c.attributes)"
    new_consent = ("CASE WHEN c.consent_status = 'opted_out' THEN 'opted_out' "
                   "WHEN s.consent = 'opted_out' THEN 'opted_out' "
                   "WHEN s.consent = 'opted_in' THEN 'opted_in' ELSE c.consent_status END")
    change = (f"(s.first_name IS NOT NULL AND s.first_name {differs} c.first_name) "
              f"OR (s.last_name IS NOT NULL AND s.last_name {differs} c.last_name) "
              f"OR (s.language IS NOT NULL AND s.language {differs} c.language) "
              f"OR {attrs_changed} OR ({new_consent}) <> c.consent_status")
    run("INSERT INTO consent_events (contact_id, status, source, at) "
        f"SELECT c.id, {new_consent}, :source, :now FROM contacts c JOIN import_staging s ON c.phone = s.phone "
        f"WHERE ({new_consent}) <> c.consent_status")
    updated_ids = run(
        "UPDATE contacts AS c SET first_name = COALESCE(s.first_name, c.first_name), "
        "last_name = COALESCE(s.last_name, c.last_name), language = COALESCE(s.language, c.language), "
        f"attributes = {merged_attrs}, "
        f"opted_out_at = CASE WHEN ({new_consent}) = 'opted_out' AND c.opted_out_at IS NULL THEN :now "
        "ELSE c.opted_out_at END, "
        f"consent_at = CASE WHEN ({new_consent}) <> c.consent_status THEN :now ELSE c.consent_at END, "
        f"consent_source = CASE WHEN ({new_consent}) <> c.consent_status THEN :source ELSE c.consent_source END, "
        f"consent_status = {new_consent}, updated_at = :now "
        f"FROM import_staging s WHERE c.phone = s.phone AND ({change}) RETURNING id"
    ).scalars().all()
    _refresh_search_text(session, list(updated_ids))
    return len(updated_ids)


def _refresh_search_text(session: Session, ids: list[int]) -> None:
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = session.execute(select(Contact.id, Contact.first_name, Contact.last_name, Contact.phone,
                                      Contact.attributes).where(Contact.id.in_(chunk))).all()
        session.execute(text("UPDATE contacts SET search_text = :s WHERE id = :i"),
                        [{"s": search_text_for(r[1], r[2], r[3], r[4]), "i": r[0]} for r in rows])


def _segment_id(session: Session, name: str, actor: User | None) -> int:
    name = " ".join(name.split())
    if not name:
        raise UserError("Le nom du segment est vide.")
    segment = session.scalar(select(Segment).where(Segment.name == name))
    if segment is None:
        segment = Segment(name=name, kind=SegmentKind.STATIC, description="Créé par un import",
                          created_by=actor.id if actor else None)
        session.add(segment)
        session.flush()
        audit.record(session, "segment_created", actor=actor, actor_email=None if actor else "cli",
                     target_type="segment", target_id=segment.id, details={"name": name})
    elif segment.kind != SegmentKind.STATIC:
        raise UserError(f"Le segment « {name} » est dynamique : on ne peut pas y ajouter des contacts.")
    return segment.id
