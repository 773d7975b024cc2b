"""Zip containers (.xlsx, .docx) checked before anything reads them: a file of a few hundred kilobytes
can declare gigabytes once inflated (a zip bomb). The sizes a zip declares are the ones Python's
zipfile holds every reader to (it stops at the declared size and then fails the CRC check), so
checking them before opening is enough for the libraries that read through it (openpyxl, docx2txt)."""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

log = logging.getLogger(__name__)

MiB = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    total: int  # bytes once inflated, all entries together
    entry: int  # bytes once inflated, the largest entry
    ratio: int = 100  # inflated / compressed, per entry above RATIO_FLOOR (Apache POI's rule)
    entries: int = 10_000
    # Parts a reader holds whole in memory (lower-case name -> bytes inflated, the French reason).
    parts: dict[str, tuple[int, str]] = field(default_factory=dict)


RATIO_FLOOR = 1 * MiB  # below this an entry may compress as well as it likes: it cannot hurt
# A contacts workbook of 500,000 rows inflates to about 150 MB; the sheets are read as a stream, but
# the shared strings (every distinct text of the workbook) and the styles are read whole into the
# app's memory, several times their size: those are bounded on their own.
WORKBOOK = ZipLimits(total=1024 * MiB, entry=512 * MiB, parts={
    "xl/sharedstrings.xml": (64 * MiB, "il contient trop de textes différents (plus de 64 Mo) : enregistrez-le "
                                       "en CSV, sans limite de taille"),
    "xl/styles.xml": (16 * MiB, "ses styles font plus de 16 Mo"),
})
# A Word document is read whole into memory; 20 MB uploads of real documents stay far below.
DOCUMENT = ZipLimits(total=256 * MiB, entry=128 * MiB)


class UnsafeArchive(UserError):
    """A zip whose declared contents break the limits; the message is in French for the user."""


def check_zip(path: Path, limits: ZipLimits, *, label: str) -> None:
    """Raise UnsafeArchive (a French UserError) when the zip at `path` would inflate beyond `limits`,
    and UserError when it is not a readable zip. `label` names the file for the user."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise UserError(f"{label} ne peut pas être lu (fichier abîmé ou d'un autre format).") from err
    total = 0
    for n, info in enumerate(infos):
        if n >= limits.entries:
            _refuse(label, f"more than {limits.entries} entries", "il contient trop d'éléments")
        total += info.file_size
        if info.file_size > limits.entry:
            _refuse(label, f"{info.filename!r} inflates to {info.file_size} bytes",
                    f"une de ses parties ferait plus de {limits.entry // MiB} Mo une fois décompressée")
        part = limits.parts.get(info.filename.lower())
        if part is not None and info.file_size > part[0]:
            log.warning("Zip refused before reading: %s: %r inflates to %s bytes", label, info.filename,
                        info.file_size)
            raise UnsafeArchive(f"{label} est refusé : {part[1]}.")
        if total > limits.total:
            _refuse(label, f"its entries inflate to more than {total} bytes",
                    f"il ferait plus de {limits.total // MiB} Mo une fois décompressé")
        if info.file_size > RATIO_FLOOR and info.file_size > limits.ratio * max(info.compress_size, 1):
            _refuse(label, f"{info.filename!r} inflates {info.file_size} bytes from {info.compress_size}",
                    "son contenu se décompresse de façon anormale (plus de "
                    f"{limits.ratio} fois sa taille), signe d'un fichier piégé")


def _refuse(label: str, detail: str, reason: str) -> None:
    log.warning("Zip refused before reading: %s: %s", label, detail)
    raise UnsafeArchive(f"{label} est refusé : {reason}. Enregistrez-le de nouveau depuis Excel ou Word, "
                        "ou découpez-le en plusieurs fichiers.")
