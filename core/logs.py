"""Logging set-up: readable in development, JSON in production, phone numbers always masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from core.config import get_settings

# Phone numbers however they are written: international (+, 00, URL-encoded %2B, or in brackets:
# `(+241) 77 28 01 50`, `+1 (415) 555-0100`), a bare 241 prefix with or without separators, national
# forms (`077 28 01 50`, `06 12 34 56 78`) and Gabon mobiles without their 0 (`77280150`). Glued to
# an underscore (`phone_24177…`) still counts. A bare run of digits that is none of these (an id) is
# left alone.
_PHONE_RE = re.compile(
    r"(?<![A-Za-z0-9+%])("
    r"(?:\+|%2B|00)[ (]*\d[\d \-.()]{6,}\d"
    r"|\(\+?\d{1,3}\)[ ]?\d[\d \-.]{5,}\d"
    r"|241[ .\-]?(?:\d[ .\-]?){7}\d"
    r"|0\d{1,2}(?:[ .\-]?\d{2}){3,4}"
    r"|[67]\d{7}"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)


def mask_phone(text: str) -> str:
    """Hide all but the country code and the last two digits: `+24177280150` -> `+241******50`."""

    def _mask(match: re.Match[str]) -> str:
        raw = match.group(1)
        international = raw.startswith(("+", "(")) or raw.upper().startswith("%2B")
        digits = re.sub(r"\D", "", raw[3:] if raw.upper().startswith("%2B") else raw)
        if len(digits) < 8:
            return raw  # too short to be a phone number
        head = "+" + digits[:3] if international else ""
        rest = digits[3:] if head else digits
        return head + "*" * (len(rest) - 2) + rest[-2:]

    text = _ENCODED_RE.sub(lambda m: m.group(1) + "*" * (len(m.group(2)) - 2) + m.group(2)[-2:], text)
    return _PHONE_RE.sub(_mask, text)


_ENCODED_RE = re.compile(r"(%2B\d{3})(\d{5,12})(?!\d)", re.IGNORECASE)  # in a URL, wherever it stands


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class MaskingFormatter(logging.Formatter):
    """The text format, masked as a whole: the message, a traceback's values, anything appended."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phone(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_phone(record.getMessage()),
        }
        for key in ("campaign_id", "recipient_id", "message_id", "event_id", "user_id", "reference"):
            if hasattr(record, key):
                value = getattr(record, key)
                data[key] = mask_phone(value) if isinstance(value, str) else value
        if record.exc_info:
            data["exc"] = mask_phone(self.formatException(record.exc_info))
        if record.stack_info:
            data["stack"] = mask_phone(self.formatStack(record.stack_info))
        return json.dumps(data, ensure_ascii=False, default=lambda v: mask_phone(str(v)))


_configured = False


def setup_logging(force: bool = False) -> None:
    global _configured
    if _configured and not force:
        return
    settings = get_settings()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_cnss", False):
            root.removeHandler(existing)
    handler._cnss = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Third-party HTTP clients log full URLs and headers at DEBUG: keep them quiet.
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True
