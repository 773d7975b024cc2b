"""Inbound Respond.io events: verified, stored once, then applied.

The receiver (`workers/webhooks.py`) checks the signature and writes the raw event before it
answers 200, so nothing acknowledged can be lost; a worker applies stored events in order. An
`event_id` seen twice is stored once, hence applied once. Unknown event types are kept and
ignored. What needs the chatbot is handed back to the worker as a `Followup` (core never imports
the chatbot).

The package, by concern: `edge` (signature and shape), `store` (stored once, claimed in order),
`grammar` (what a person's words ask for), `apply` (events applied), `dead_letters` (what could
not be stored or applied), `unanswered` (questions the chatbot left). Callers use the names below."""

from __future__ import annotations

from core.inbound.apply import (
    Followup,
    Processed,
    apply_contact_event,
    apply_conversation_event,
    apply_statuses,
    contact_for,
    hand_over,
    notify,
    open_conversation,
    process_pending,
    receive_message,
)
from core.inbound.dead_letters import (
    dead_letter_count,
    dead_letters,
    discard_dead_letter,
    error_text,
    masked_payload,
    retry_dead_letter,
    store_unstorable,
)
from core.inbound.edge import Event, InvalidEvent, parse, sign, verify_signature, without_nul
from core.inbound.grammar import (
    BOT_NO_ANSWER_NOTICE,
    HANDOFF_NOTICE,
    OPT_IN_CONFIRMATION,
    OPT_OUT_CONFIRMATION,
    keyword,
    words,
)
from core.inbound.store import MAX_ATTEMPTS, claim, pending_count, store
from core.inbound.unanswered import hand_over_unanswered, later_question, unanswered

__all__ = [
    "BOT_NO_ANSWER_NOTICE", "HANDOFF_NOTICE", "MAX_ATTEMPTS", "OPT_IN_CONFIRMATION", "OPT_OUT_CONFIRMATION",
    "Event", "Followup", "InvalidEvent", "Processed", "apply_contact_event", "apply_conversation_event",
    "apply_statuses", "claim", "contact_for", "dead_letter_count", "dead_letters", "discard_dead_letter",
    "error_text", "hand_over", "hand_over_unanswered", "keyword", "later_question", "masked_payload", "notify",
    "open_conversation", "parse", "pending_count", "process_pending", "receive_message", "retry_dead_letter",
    "sign", "store", "store_unstorable", "unanswered", "verify_signature", "without_nul", "words",
]
