r"""Numbers, shares, durations and dates as French readers write them, in one place: every screen,
chart, caption and export message goes through these (a narrow no-break space between thousands
and before %, a comma for decimals, French month and day names).

    >>> number(1234567), number(0.834, 2), percent(0.84), signed(-1200), seconds(0.4)
    ('1\u202f234\u202f567', '0,83', '84\u202f%', '−1\u202f200', '0,4\u00a0s')
"""

from __future__ import annotations

from datetime import date, datetime

NNBSP = "\u202f"  # narrow no-break space: thousands, and before % and units that follow a number
NBSP = "\u00a0"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# Plotly's `separators`: the decimal mark, then the thousands separator.
PLOTLY_SEPARATORS = "," + NNBSP


def number(value: float | int | None, decimals: int = 0) -> str:
    """12 345 ; 0,83 ; « — » for no value."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]  # -0.4 rounded is 0, not « −0 »
    return text.replace(",", NNBSP).replace(".", ",").replace("-", "−")


def decimal(value: float | int | None, max_decimals: int = 2) -> str:
    """0,5 ; 12 ; 1 234,25: as many decimals as the value has, up to `max_decimals`."""
    if value is None:
        return "—"
    text = number(value, max_decimals)
    return text.rstrip("0").rstrip(",") if "," in text else text


def signed(value: float | int, decimals: int = 0) -> str:
    """+1 200 / −1 200: a change next to a figure."""
    return ("+" if value > 0 else "") + number(value, decimals)


def percent(ratio: float | None, decimals: int = 0) -> str:
    """0.84 → 84 % ; 0.0042 with one decimal → 0,4 %. A share that is not whole never reads « 100 % »
    and one that is not nothing never reads « 0 % »: 0.9996 → 99,96 %, 0.0004 → 0,04 %."""
    if ratio is None:
        return "—"
    value = ratio * 100
    while decimals < 4 and (0 < value < 100 and number(value, decimals) in (number(100, decimals),
                                                                           number(0, decimals))):
        decimals += 1
    return f"{number(value, decimals)}{NNBSP}%"


def seconds(value: float | None) -> str:
    """A short delay: 0,4 s, 12 s, 3 min, 2 h 05."""
    if value is None:
        return "—"
    if round(value, 1) < 10:
        return f"{number(value, 1)}{NBSP}s"
    if round(value) < 120:
        return f"{number(value)}{NBSP}s"
    if round(value / 60) < 120:
        return f"{number(value / 60)}{NBSP}min"
    hours, rest = divmod(int(value), 3600)
    return f"{hours}{NBSP}h{NBSP}{rest // 60:02d}"


def fcfa(value: float | None) -> str:
    return "—" if value is None else f"{number(value)}{NBSP}FCFA"


def day(value: date | datetime, *, year: bool = False) -> str:
    """2 déc. (or 2 déc. 2026): an axis label or a short date in a sentence."""
    text = f"{value.day} {MONTHS_SHORT[value.month - 1]}"
    return f"{text} {value.year}" if year else text


def day_long(value: date | datetime) -> str:
    """mercredi 2 décembre 2026."""
    return f"{WEEKDAYS[value.weekday()]} {value.day} {MONTHS[value.month - 1]} {value.year}"


def hour(value: datetime) -> str:
    """2 déc. 14 h: an hourly bucket on an axis."""
    return f"{day(value)} {value.hour:02d}{NBSP}h"
