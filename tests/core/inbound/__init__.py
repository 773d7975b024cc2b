"""Events as Respond.io sends them, for the tests of core.inbound."""

from __future__ import annotations

from core import inbound
from core.timeutil import utcnow


def received(event_id: str, phone: str, text: str, *, at: float | None = None, **contact) -> inbound.Event:  # noqa: ANN003
    at = at or utcnow().timestamp()
    payload = {"event_id": event_id, "event_type": "message.received",
               "contact": {"id": 900, "phone": phone, **contact}, "channel": {"id": 1, "source": "whatsapp_cloud"},
               "message": {"messageId": f"in-{event_id}", "traffic": "incoming", "timestamp": int(at * 1000),
                           "message": {"type": "text", "text": text}}}
    return inbound.Event(event_id, "message.received", payload)
