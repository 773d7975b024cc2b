"""Phone numbers, normalized once at the edge to E.164.

Gabon moved to a 9-digit national plan on 6 April 2024 (`0` + 8 digits). Old 8-digit numbers,
still common in spreadsheets, are mapped by inserting the operator digit after the 0. The
`phonenumbers` library still calls the dead 8-digit form valid and lags behind the current mobile
ranges, so Gabon numbers are checked against the operators' prefixes here; foreign numbers (people
living abroad) go through `phonenumbers` and must be mobiles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from core import labels

GA_COUNTRY_CODE = "241"
# Old plan prefix (after the 0) -> new plan prefix (after the 0).
OLD_TO_NEW = {"1": "11", "2": "62", "5": "65", "6": "66", "4": "74", "7": "77"}
GA_MOBILE_PREFIXES = frozenset({"60", "61", "62", "65", "66", "74", "76", "77"})
GA_FIXED_PREFIXES = frozenset({"11"})

_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_FLOAT_INTEGER = re.compile(r"^(\d+)[.,]0+$")  # 24177280150.0: a number cell, digits intact
_SEPARATORS = re.compile(r"[\s\u00a0\u202f().\-/]")


@dataclass(frozen=True, slots=True)
class PhoneResult:
    e164: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def _gabon(nsn_digits: str) -> PhoneResult:
    """Digits after +241 (or a national form with its 0): old or new plan, to E.164."""
    digits = nsn_digits
    if len(digits) == 7 and digits[0] != "0":  # an old number whose leading 0 a spreadsheet dropped
        digits = "0" + digits
    if len(digits) == 8 and digits[0] == "0":  # old plan: 07 28 01 50
        new_prefix = OLD_TO_NEW.get(digits[1])
        if new_prefix is None:
            return PhoneResult(None, "invalid")
        digits = new_prefix + digits[2:]
    elif len(digits) == 9 and digits[0] == "0":  # new plan, national form: 077 28 01 50
        digits = digits[1:]
    elif len(digits) != 8:
        return PhoneResult(None, "invalid_length")
    prefix = digits[:2]
    if prefix in GA_MOBILE_PREFIXES:
        return PhoneResult("+" + GA_COUNTRY_CODE + digits)
    if prefix in GA_FIXED_PREFIXES:
        return PhoneResult(None, "fixed_line")
    return PhoneResult(None, "invalid")


def _foreign(digits: str) -> PhoneResult:
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return PhoneResult(None, "invalid")
    if not phonenumbers.is_possible_number(parsed):
        return PhoneResult(None, "invalid_length")
    if not phonenumbers.is_valid_number(parsed):
        return PhoneResult(None, "invalid")
    kind = phonenumbers.number_type(parsed)
    if kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return PhoneResult(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return PhoneResult(None, "fixed_line")
    return PhoneResult(None, "not_mobile")


def normalize(raw: object) -> PhoneResult:
    """Any way a person or a spreadsheet writes a number -> E.164 of a WhatsApp-capable mobile."""
    if raw is None:
        return PhoneResult(None, "empty")
    if isinstance(raw, float):
        if raw != raw:  # NaN
            return PhoneResult(None, "empty")
        raw = repr(raw) if raw >= 1e16 or not raw.is_integer() else str(int(raw))
    elif isinstance(raw, int):
        raw = str(raw)
    text = str(raw).strip()
    if not text:
        return PhoneResult(None, "empty")
    if _SCIENTIFIC.match(text):
        return PhoneResult(None, "excel_mangled")
    whole = _FLOAT_INTEGER.match(text)
    if whole:
        text = whole.group(1)
    compact = _SEPARATORS.sub("", text)
    international = compact.startswith("+")
    digits = compact[1:] if international else compact
    if not digits.isdigit() or not digits.isascii():
        return PhoneResult(None, "not_a_number")
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if international:
        if digits.startswith(GA_COUNTRY_CODE):
            return _gabon(digits[3:])
        return _foreign(digits)
    if digits.startswith(GA_COUNTRY_CODE) and len(digits) in (11, 12):  # 24177280150, 241077280150
        return _gabon(digits[3:])
    return _gabon(digits)


def reason_label(reason: str) -> str:
    return labels.PHONE_REJECTION.get(reason, reason)


def search_digits(text: str) -> str | None:
    """The digits a user typed to find a number, in E.164 when it is a whole number, else None."""
    result = normalize(text)
    return result.e164
