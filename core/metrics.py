"""Prometheus metrics of the workers and the webhook receiver.

Counters and histograms are incremented where things happen (sends, provider calls, webhooks,
chatbot answers), in the process that does them: RQ workers run their jobs in their own process
(`SimpleWorker`), so one `/metrics` endpoint per process sees everything that process did.
The deployment's gauges read at scrape time, and the endpoint that serves both, are in
`core.exporter` (it reads `core.health`, which reaches the provider, which counts here).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

MESSAGES = Counter("cnss_messages_total", "Campaign sends by outcome and WhatsApp error code",
                   ["outcome", "error_code"])
PROVIDER_SECONDS = Histogram("cnss_provider_request_seconds", "Time of one Respond.io request",
                             ["operation"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
PROVIDER_RESPONSES = Counter("cnss_provider_responses_total", "Respond.io answers by HTTP status ('network' "
                             "and 'timeout' when there was none)", ["operation", "status"])
PROVIDER_RETRIES = Counter("cnss_provider_retries_total", "Respond.io requests tried again, by reason", ["reason"])
RECONCILED = Counter("cnss_reconciled_total", "Sends of unknown outcome looked up at the provider, by verdict "
                     "(found, requeued, postponed, unverified)", ["verdict"])
OUTBOX = Counter("cnss_outbox_total", "Messages sent outside campaigns (confirmations, bot answers, agents' "
                 "replies, test sends) by purpose and final outcome", ["purpose", "outcome"])
OUTBOX_SECONDS = Histogram("cnss_outbox_send_seconds", "Time from the decision to send a message outside "
                           "campaigns to its acceptance by the provider",
                           buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800))
WEBHOOK_EVENTS = Counter("cnss_webhook_events_total", "Webhook requests by event type and verification result",
                         ["event_type", "verification"])
INBOUND_APPLIED = Counter("cnss_inbound_events_applied_total", "Stored inbound events applied, by result", ["result"])
CHATBOT_ANSWERS = Counter("cnss_chatbot_answers_total", "Questions put to the chatbot, by outcome",
                          ["channel", "outcome"])
CHATBOT_SECONDS = Histogram("cnss_chatbot_answer_seconds", "Time to answer one question (retrieval and LLM)",
                            ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30))

KNOWN_EVENT_TYPES = frozenset({
    "message.received", "message.sent", "contact.created", "contact.updated", "contact.tag.updated",
    "contact.assignee.updated", "contact.lifecycle.updated", "conversation.opened", "conversation.closed"})


def event_type_label(event_type: str | None) -> str:
    """Label values stay a short known list whatever a sender puts in the body."""
    if event_type is None:
        return "none"
    return event_type if event_type in KNOWN_EVENT_TYPES else "other"


def operation_of(method: str, path: str) -> str:
    """The Respond.io call a path stands for: send, status, list, contact, template, other."""
    if "/message/list" in path:
        return "list"
    if path.endswith("/message"):
        return "send" if method == "POST" else "other"
    if "/message/" in path:
        return "status"
    if "/template" in path or path.endswith("/mtm"):
        return "template"
    if path.startswith("/contact"):
        return "contact"
    return "other"
