"""Zip bombs refused before anything reads them (here a workbook to import; the Word documents of
the knowledge base in tests/rag/test_bounded_parsing.py); a refusal reads in French, says why in the
log, and leaves nothing behind."""

from __future__ import annotations

import logging
import random
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core import archives
from core.contacts.importer import import_file
from core.errors import UserError
from core.models import Contact

MiB = 1024 * 1024


def inflate_into(path: Path, name: str, megabytes: int, chunk: bytes = b"0" * MiB) -> Path:
    """Add an entry that inflates to `megabytes` MB of one repeated byte (a few hundred KB on disk)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z, \
            z.open(name, "w", force_zip64=True) as entry:
        for _ in range(megabytes):
            entry.write(chunk)
    return path


def workbook(path: Path) -> Path:
    wb = Workbook()
    wb.active.append(["telephone", "prenom"])
    wb.active.append(["+24177280150", "Awa"])
    wb.save(path)
    return path


def test_a_workbook_bomb_is_refused_before_it_is_read(session, tmp_path, caplog) -> None:  # noqa: ANN001
    """A 400 MB shared-strings part in a workbook of a few hundred KB: refused in French, in well under
    the time reading it would take, nothing imported, the reason in the log."""
    path = inflate_into(workbook(tmp_path / "contacts.xlsx"), "xl/sharedStrings2.xml", 400)
    assert path.stat().st_size < 2 * MiB
    caplog.set_level(logging.WARNING, logger="core.archives")
    started = time.perf_counter()
    with pytest.raises(archives.UnsafeArchive, match="Ce fichier Excel est refusé : son contenu se décompresse"):
        import_file(session, path)
    assert time.perf_counter() - started < 2  # the central directory only: nothing was inflated
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert "sharedStrings2.xml" in caplog.text and "419430400" in caplog.text


def test_the_same_workbook_without_the_bomb_is_imported(session, tmp_path) -> None:  # noqa: ANN001
    result = import_file(session, workbook(tmp_path / "contacts.xlsx"))
    assert result.created == 1


def test_totals_entry_sizes_and_entry_counts_are_bounded(tmp_path) -> None:  # noqa: ANN001
    """Entries that compress normally but add up: refused on the total; one too large; too many."""
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        noise = random.Random(7)
        for n in range(30):
            z.writestr(f"part{n}.xml", noise.randbytes(128 * 1024))  # 128 KB each, barely compressible
        z.writestr("big.xml", noise.randbytes(1536 * 1024))  # 1.5 MB
    archives.check_zip(path, archives.ZipLimits(total=8 * MiB, entry=2 * MiB), label="Ce fichier")
    with pytest.raises(archives.UnsafeArchive, match="Ce fichier est refusé : il ferait plus de 4 Mo une fois déco"):
        archives.check_zip(path, archives.ZipLimits(total=4 * MiB, entry=2 * MiB), label="Ce fichier")
    with pytest.raises(archives.UnsafeArchive, match="une de ses parties ferait plus de 1 Mo"):
        archives.check_zip(path, archives.ZipLimits(total=8 * MiB, entry=MiB), label="Ce fichier")
    with pytest.raises(archives.UnsafeArchive, match="trop d'éléments"):
        archives.check_zip(path, archives.ZipLimits(total=8 * MiB, entry=2 * MiB, entries=10), label="Ce fichier")
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 rien")
    with pytest.raises(UserError, match="ne peut pas être lu"):
        archives.check_zip(tmp_path / "not.zip", archives.DOCUMENT, label="Ce fichier")


def test_parts_read_whole_are_bounded_on_their_own(tmp_path) -> None:  # noqa: ANN001
    """The shared strings of a workbook are read whole into memory (several times their size): a
    workbook whose shared strings exceed their own bound is refused, however normal its ratio."""
    assert archives.WORKBOOK.parts["xl/sharedstrings.xml"][0] == 64 * MiB
    path = tmp_path / "textes.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", random.Random(3).randbytes(2 * MiB))
    limits = archives.ZipLimits(total=8 * MiB, entry=4 * MiB,
                                parts={"xl/sharedstrings.xml": (MiB, "il contient trop de textes différents")})
    with pytest.raises(archives.UnsafeArchive, match="Ce fichier Excel est refusé : il contient trop de textes"):
        archives.check_zip(path, limits, label="Ce fichier Excel")


def test_a_workbook_damaged_after_its_header_is_refused_in_french(session, tmp_path) -> None:  # noqa: ANN001
    """A workbook whose sheet breaks half-way (a zip that lists fine, XML cut short): the rows read
    so far are not imported, the user reads which line, the log says why."""
    good = tmp_path / "good.xlsx"
    wb = Workbook()
    wb.active.append(["telephone", "prenom"])
    for n in range(200):
        wb.active.append([f"+2417728{n:04d}", f"Personne {n}"])
    wb.save(good)
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # cut in the middle of the rows
            dst.writestr(info.filename, data)
    with pytest.raises(UserError, match="Ce fichier Excel est abîmé : sa lecture s'est arrêtée à la ligne"):
        import_file(session, broken)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
