"""CSV and XLSX exports that a spreadsheet cannot turn into formulas."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# A signed number (a phone in E.164 above all) runs nothing in a spreadsheet: left as it is, so that
# an export can be imported again as it was written.
_PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d ]*(?:[.,]\d+)?$")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is prefixed with a quote (OWASP advice)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def unquote(value: Any) -> Any:
    """A cell as it was before `safe_cell` (an export imported again keeps its values)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else _french_decimal(v) if isinstance(v, float | Decimal) else safe_cell(v)
                         for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def _french_decimal(value: float | Decimal) -> str:
    """53.8 -> 53,8: with « ; » between cells, a French spreadsheet reads a comma as the decimal mark.
    Twelve significant digits at most (0.1 + 0.2 is 0,3), never an exponent; no value for NaN."""
    if not math.isfinite(value):
        return ""
    exact = value if isinstance(value, Decimal) else Decimal(f"{value:.12g}")
    text = format(exact, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text).replace(".", ",")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], *, sheet: str = "Export") -> bytes:
    # Here, not at the top: openpyxl is loaded only when a workbook is read or written.
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    worksheet.append([safe_cell(h) for h in header])
    for row in rows:
        worksheet.append([safe_cell(v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v)
                          if v is not None else None for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
