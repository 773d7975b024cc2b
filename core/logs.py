"""Logging set-up: readable in development, JSON in production, phone numbers always masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from core.config import get_settings

# International numbers (+, 00 or a bare 241 prefix), Gabon national forms (0X XX XX XX...) and
# Gabon mobile numbers written without their 0 (6X/7X and six digits).
_PHONE_RE = re.compile(
    r"(?<![\w+])(\+\d[\d \-.]{6,}\d|00\d{9,}|241\d{8}|0\d{1,2}(?:[ .\-]?\d{2}){3}|[67]\d{7})(?![\w])"
)


def mask_phone(text: str) -> str:
    """Hide all but the country code and the last two digits: `+24177280150` -> `+241******50`."""

    def _mask(match: re.Match[str]) -> str:
        raw = match.group(1)
        digits = re.sub(r"\D", "", raw)
        head = "+" + digits[:3] if raw.startswith("+") else ""
        rest = digits[3:] if head else digits
        return head + "*" * (len(rest) - 2) + rest[-2:]

    return _PHONE_RE.sub(_mask, text)


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
