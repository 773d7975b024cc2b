"""What arrives: the signature Respond.io puts on a webhook, and the shape of its body (refused
whole, with a 400, when it cannot be read; never half-read)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger(__name__)


def sign(body: bytes, secret: str) -> str:
    """Respond.io's signature: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, signature: str | None, secrets: list[str]) -> bool:
    """True when `signature` matches the body under one of the signing keys. Every key is tried, and
    compared in constant time, so the answer's timing tells nothing about the keys."""
    if not signature or not secrets:
        return False
    given = signature.strip().encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(body, secret).encode(), given)
    return matched


class InvalidEvent(ValueError):
    """A signed body that is not an event; the reason is for the log and the 400 answer."""


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    payload: dict[str, Any]
    raw: bytes | None = None  # the verified body, stored as it came when the database takes JSON text


def parse(body: bytes) -> Event:
    try:
        payload = orjson.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidEvent(f"body is not JSON: {err}") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("body is not a JSON object")
    if _depth_over(payload, MAX_DEPTH):  # Respond.io's events are a few levels deep
        raise InvalidEvent(f"body nested deeper than {MAX_DEPTH} levels")
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise InvalidEvent("event_type is missing")
    event_id = payload.get("event_id")
    # Without an id, the body itself identifies the event: the same delivery twice is one event.
    event_id = without_nul(str(event_id)) if event_id not in (None, "") else \
        "sha256:" + hashlib.sha256(body).hexdigest()
    if len(event_id) > EVENT_ID_MAX:  # cut, two different ids could become one: hashed instead
        event_id = "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()
    if b"\\u0000" in body:
        # PostgreSQL's JSON and text cannot hold a NUL character: removed from the decoded values, and
        # the body stored re-encoded (an escape typed by hand, `\\u0000` in the JSON, stays as typed).
        payload = without_nul(payload)
        body = orjson.dumps(payload)
    return Event(event_id, without_nul(event_type.strip())[:64], payload, body)


EVENT_ID_MAX = 128
MAX_DEPTH = 64  # objects and lists within each other; deeper bodies are refused (400), never half-read
NAME_MAX = 120  # contacts.first_name / last_name
TYPE_MAX = 32  # messages.message_type


def _depth_over(value: Any, limit: int) -> bool:
    """Whether objects and lists are nested deeper than `limit` (without recursion: a hostile body
    must not exhaust the stack of the process that reads it)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def without_nul(value: Any) -> Any:
    """`value` with every NUL character removed from its strings, keys included, at any depth."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def fit(value: str | None, length: int) -> str | None:
    """A value from outside cut to its column's length (a longer one would fail the event forever)."""
    return value[:length] if value is not None else None
