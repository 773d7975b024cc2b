"""Reading contact files as streams of rows: CSV (separator and encoding detected) and XLSX."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import archives
from core.errors import UserError

log = logging.getLogger(__name__)

SEPARATORS = (";", ",", "\t")
_CHUNK = 1 << 20


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when every byte decodes as UTF-8, otherwise Windows-1252."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    # Windows-1252 leaves five bytes undefined; a file using them is read as Latin-1.
    with path.open("rb") as f:
        try:
            while chunk := f.read(_CHUNK):
                chunk.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"


def detect_separator(sample_lines: list[str]) -> str:
    """The separator that splits the header into the most columns, consistently on the next lines."""
    best, best_score = ",", (0, 0)
    for sep in SEPARATORS:
        rows = list(csv.reader(sample_lines, delimiter=sep))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows[1:] if len(r) == width)
        score = (consistent, width)
        if score > best_score:
            best, best_score = sep, score
    return best


@dataclass
class Table:
    """An open contact file: its header and a one-pass iterator over its data rows."""

    kind: str  # csv | xlsx
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (line number in the file, cell values)
    encoding: str | None = None
    separator: str | None = None
    size: int = 0  # bytes (csv) or rows (xlsx), for progress
    _position: Any = field(default=None, repr=False)

    def progress(self) -> float | None:
        """The share of the file read so far, when it can be known."""
        if self._position is None or not self.size:
            return None
        return min(1.0, float(self._position()) / self.size)

    def close(self) -> None:
        closer = getattr(self.rows, "close", None)
        if closer:
            closer()


def _clean_header(raw: list[Any]) -> list[str]:
    header: list[str] = []
    for i, cell in enumerate(raw, start=1):
        name = str(cell).strip().lstrip("\ufeff") if cell is not None else ""
        name = name or f"colonne_{i}"
        base, n = name, 2
        while name in header:
            name, n = f"{base}_{n}", n + 1
        header.append(name)
    return header


def _open_csv(path: Path) -> Table:
    encoding = detect_encoding(path)
    raw = path.open("rb")
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    sample: list[str] = []
    for _ in range(20):
        line = text.readline()
        if not line:
            break
        sample.append(line)
    separator = detect_separator(sample)
    text.seek(0)
    reader = csv.reader(text, delimiter=separator)
    header_row: list[str] | None = None
    for row in reader:
        if any(c.strip() for c in row):
            header_row = row
            break
    if header_row is None:
        text.close()
        raise UserError("Le fichier est vide : aucune ligne d'en-tête n'a été trouvée.")

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for row in reader:
                if any(c.strip() for c in row):
                    yield reader.line_num, row
        except csv.Error as err:
            raise UserError(f"Fichier CSV illisible à la ligne {reader.line_num} : {err}.") from err
        finally:
            text.close()

    return Table("csv", _clean_header(header_row), rows(), encoding, separator, path.stat().st_size, raw.tell)


# What a damaged workbook raises while its rows are read (the zip, its compression, its XML).
_BROKEN = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, SyntaxError)


def _broken(err: Exception, line: int) -> UserError:
    log.warning("Workbook unreadable at row %s: %s: %s", line, type(err).__name__, err)
    return UserError(f"Ce fichier Excel est abîmé : sa lecture s'est arrêtée à la ligne {line}. Rien n'a été "
                     "importé ; enregistrez-le de nouveau depuis Excel (ou en CSV).")


def _open_xlsx(path: Path) -> Table:
    # Here, not at the top: openpyxl is loaded only when a workbook is read or written.
    from openpyxl import load_workbook

    # Here, not at the top: openpyxl is loaded only when a workbook is read or written.
    from openpyxl.utils.exceptions import InvalidFileException

    archives.check_zip(path, archives.WORKBOOK, label="Ce fichier Excel")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as err:
        raise UserError("Ce fichier Excel ne peut pas être lu (fichier .xlsx abîmé ou d'un autre format).") from err
    sheet = workbook.active
    if sheet is None:
        raise UserError("Ce classeur Excel n'a aucune feuille.")
    iterator = sheet.iter_rows(values_only=True)
    header_row, line_no = None, 0
    try:
        for row in iterator:
            line_no += 1
            if any(c not in (None, "") for c in row):
                header_row = list(row)
                break
    except _BROKEN as err:
        workbook.close()
        raise _broken(err, line_no + 1) from err
    if header_row is None:
        workbook.close()
        raise UserError("Le fichier est vide : aucune ligne d'en-tête n'a été trouvée.")
    state = {"line": line_no}

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for row in iterator:
                state["line"] += 1
                if any(c not in (None, "") for c in row):
                    yield state["line"], list(row)
        except _BROKEN as err:
            raise _broken(err, state["line"] + 1) from err
        finally:
            workbook.close()

    return Table("xlsx", _clean_header(header_row), rows(), size=sheet.max_row or 0,
                 _position=lambda: state["line"])


def open_table(path: Path, filename: str | None = None) -> Table:
    """Open a CSV or XLSX file by its name's extension (or its content for XLSX)."""
    name = (filename or path.name).lower()
    with path.open("rb") as f:
        magic = f.read(4)
    if name.endswith((".xlsx", ".xlsm")) or magic == b"PK\x03\x04":
        return _open_xlsx(path)
    if name.endswith(".xls"):
        raise UserError("Les fichiers .xls (Excel 97-2003) ne sont pas pris en charge : "
                        "enregistrez-le en .xlsx ou .csv.")
    return _open_csv(path)


def preview(path: Path, filename: str | None = None, limit: int = 10) -> tuple[Table, list[list[Any]]]:
    table = open_table(path, filename)
    sample: list[list[Any]] = []
    try:
        for _, row in table.rows:
            sample.append(row)
            if len(sample) >= limit:
                break
    finally:
        table.close()
    return table, sample
