"""Every way a Gabon (or foreign) number is written, old and new plans, and garbage."""

from __future__ import annotations

import pytest

from core.phones import normalize

VALID = [
    # new 9-digit plan, national and international forms
    ("077 28 01 50", "+24177280150"),
    ("077280150", "+24177280150"),
    ("+241 77 28 01 50", "+24177280150"),
    ("+24177280150", "+24177280150"),
    ("00241 77 28 01 50", "+24177280150"),
    ("0024177280150", "+24177280150"),
    ("24177280150", "+24177280150"),
    ("241077280150", "+24177280150"),
    ("(+241) 74-12-34-56", "+24174123456"),
    ("+241 (0)77 28 01 50", "+24177280150"),
    ("066.12.34.56", "+24166123456"),
    ("062/12/34/56", "+24162123456"),
    ("065\u00a012\u00a034\u00a056", "+24165123456"),
    ("060 50 22 51", "+24160502251"),
    ("061 23 45 67", "+24161234567"),
    ("076 11 22 33", "+24176112233"),
    ("77280150", "+24177280150"),  # the leading 0 dropped by a spreadsheet
    # old 8-digit plan -> new plan
    ("07 28 01 50", "+24177280150"),
    ("07280150", "+24177280150"),
    ("+241 07 28 01 50", "+24177280150"),
    ("04 12 34 56", "+24174123456"),
    ("02 12 34 56", "+24162123456"),
    ("05 12 34 56", "+24165123456"),
    ("06 12 34 56", "+24166123456"),
    ("7280150", "+24177280150"),  # old number without its 0
    # numbers a spreadsheet stored as numbers
    (24177280150, "+24177280150"),
    (24177280150.0, "+24177280150"),
    ("24177280150.0", "+24177280150"),
    (77280150, "+24177280150"),
    # people living abroad
    ("+33 6 12 34 56 78", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("+1 415 555 2671", "+14155552671"),
    ("+221 77 123 45 67", "+221771234567"),
]

INVALID = [
    (None, "empty"),
    ("", "empty"),
    ("   ", "empty"),
    (float("nan"), "empty"),
    ("2.41077e+11", "excel_mangled"),
    ("2,41077E+11", "excel_mangled"),
    ("2.41077E11", "excel_mangled"),
    ("n/a", "not_a_number"),
    ("appeler le soir", "not_a_number"),
    ("077 28 01 5O", "not_a_number"),  # letter O
    ("٠٧٧٢٨٠١٥٠", "not_a_number"),  # non-ASCII digits
    ("011 76 12 34", "fixed_line"),
    ("01 76 12 34", "fixed_line"),  # old fixed line -> 011..., still fixed
    ("+241 11 76 12 34", "fixed_line"),
    ("+33 1 42 68 53 00", "fixed_line"),
    ("0772801", "invalid_length"),
    ("07728015012", "invalid_length"),
    ("+241 77 28 01 50 99", "invalid_length"),
    ("08 12 34 56", "invalid"),  # no operator behind old 08
    ("090 12 34 56", "invalid"),
    ("+999 123456", "invalid"),
]


@pytest.mark.parametrize("raw, e164", VALID)
def test_valid_numbers(raw, e164) -> None:  # noqa: ANN001
    result = normalize(raw)
    assert (result.e164, result.reason) == (e164, None)


@pytest.mark.parametrize("raw, reason", INVALID)
def test_rejected_numbers_have_a_reason(raw, reason) -> None:  # noqa: ANN001
    result = normalize(raw)
    assert (result.e164, result.reason) == (None, reason)


def test_phonenumbers_pitfall_is_avoided() -> None:
    # phonenumbers alone would give the dead +24107280150
    assert normalize("07 28 01 50").e164 != "+24107280150"
