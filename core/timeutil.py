"""Times are stored in UTC and shown in Africa/Libreville."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.config import get_settings


def local_tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(local_tz())


def format_dt(value: datetime | None, with_seconds: bool = False) -> str:
    """`25/11/2026 14:05` in Libreville time; an empty string for no value."""
    if value is None:
        return ""
    return to_local(value).strftime("%d/%m/%Y %H:%M:%S" if with_seconds else "%d/%m/%Y %H:%M")
