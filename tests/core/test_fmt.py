"""core.fmt: numbers, shares, durations and dates as French readers write them, and the decimals
of CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest

from core import exports, fmt

N, S = "\u202f", "\u00a0"  # narrow no-break space (thousands, before %), no-break space (before units)


@pytest.mark.parametrize("value, decimals, expected", [
    (1234567, 0, f"1{N}234{N}567"), (0.834, 2, "0,83"), (-1200, 0, f"−1{N}200"), (-0.4, 0, "0"), (None, 0, "—"),
])
def test_numbers(value, decimals, expected) -> None:  # noqa: ANN001
    assert fmt.number(value, decimals) == expected


@pytest.mark.parametrize("ratio, expected", [
    (0.84, f"84{N}%"), (1.0, f"100{N}%"), (0.0, f"0{N}%"), (0.9996, f"99,96{N}%"), (0.0004, f"0,04{N}%"),
    (0.5, f"50{N}%"), (None, "—"),
])
def test_a_share_that_is_not_whole_never_reads_100_nor_0(ratio, expected) -> None:  # noqa: ANN001
    assert fmt.percent(ratio) == expected


@pytest.mark.parametrize("seconds, expected", [
    (0.4, f"0,4{S}s"), (9.97, f"10{S}s"), (42, f"42{S}s"), (119.6, f"2{S}min"), (1860, f"31{S}min"),
    (7199, f"1{S}h{S}59"), (11400, f"3{S}h{S}10"), (None, "—"),
])
def test_delays(seconds, expected) -> None:  # noqa: ANN001
    assert fmt.seconds(seconds) == expected


def test_dates_and_other_helpers() -> None:
    assert fmt.day(date(2026, 12, 2)) == "2 déc." and fmt.day(date(2026, 2, 1), year=True) == "1 févr. 2026"
    assert fmt.day_long(date(2026, 12, 2)) == "mercredi 2 décembre 2026"
    assert fmt.hour(datetime(2026, 12, 2, 14)) == f"2 déc. 14{S}h"
    assert fmt.decimal(0.5) == "0,5" and fmt.decimal(80.0) == "80" and fmt.fcfa(2415) == f"2{N}415{S}FCFA"
    assert fmt.signed(1827) == f"+1{N}827" and fmt.signed(-3) == "−3"


def test_csv_decimals_are_french_and_exact_enough() -> None:
    rows = [[0.1 + 0.2, 1e-7, float("nan"), Decimal("12.5"), 53.8, 80.0, -2.5, 7, "0.5"]]
    [_, parsed] = list(csv.reader(io.StringIO(exports.to_csv(list("abcdefghi"), rows).decode("utf-8-sig")),
                                  delimiter=";"))
    assert parsed == ["0,3", "0,0000001", "", "12,5", "53,8", "80", "-2,5", "7", "0.5"]  # text stays as written
