"""Applying stored inbound events, and the chatbot's part in them.

The receiver asks for a drain after each batch it stores; the scheduler asks too while events
wait (after a database outage, say). At most one drain job waits in the queue; several may run
at once on PostgreSQL, each claiming its own batch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import db, inbound, messaging, metrics, models, queue
from core.config import get_settings
from core.errors import UserError
from core.logs import mask_phone
from core.models import ChatbotInteraction, Contact, Conversation, ConversationStatus
from core.timeutil import utcnow
from workers import outbox as outbox_worker

log = logging.getLogger(__name__)
DRAIN_JOB = "workers.inbound.drain"
DRAIN_FLAG = "inbound-drain-requested"
MAX_RUNTIME_SECONDS = 60.0
IDLE_PAUSE_SECONDS = 0.05
LINGER_SECONDS = 1.0  # a drain with nothing to do waits this long for more before it ends
BOT_UNSURE_NOTICE = ("Je transmets votre question à un conseiller de la CNSS, qui vous répondra dès que possible.")


@dataclass(frozen=True)
class BotReply:
    """What the chatbot answers. `refused` (out of scope) and `unsure` (too little support in the
    documents) hand the conversation to a human."""

    text: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    refused: bool = False
    unsure: bool = False
    top_score: float | None = None
    extractive: bool = False


Answerer = Callable[[str], BotReply]


def default_answerer() -> Answerer | None:
    """The knowledge base's answer function, when the chatbot is installed; None otherwise, and the
    conversation then waits for an agent."""
    try:
        # Here, not at the top: the knowledge base (Chroma, LangChain: seconds to load) only when a
        # question is answered.
        from rag import kb
    except ImportError:  # a deployment without the chatbot's libraries
        return None

    def ask(question: str) -> BotReply:
        result = kb.ask(question)
        return BotReply(result.text, sources=result.sources, refused=result.refused,
                        top_score=result.scores.get("confidence"), extractive=result.extractive)

    return ask


def request_drain() -> bool:
    """Queue a drain unless one is already waiting; returns whether one was queued."""
    if not queue.try_lock(DRAIN_FLAG, ttl=30.0):
        return False
    queue.enqueue(DRAIN_JOB, job_timeout=int(MAX_RUNTIME_SECONDS * 3))
    return True


def answer(followup: inbound.Followup, answerer: Answerer | None) -> str:
    """Ask the chatbot and act on its reply; returns what happened (`answered`, `handed_over`)."""
    started = time.monotonic()
    reply: BotReply | None = None
    if answerer is not None:
        try:
            reply = answerer(followup.text)
        except Exception:  # the person must not be left without an answer: an agent takes over
            log.exception("The chatbot failed on conversation %s", followup.conversation_id)
    latency = int((time.monotonic() - started) * 1000)
    metrics.CHATBOT_SECONDS.labels("whatsapp").observe(latency / 1000)
    outcome = _act_on_reply(followup, reply, latency)
    metrics.CHATBOT_ANSWERS.labels("whatsapp", "error" if answerer is not None and reply is None else
                                   "refused" if reply is not None and reply.refused else outcome).inc()
    return outcome


def _act_on_reply(followup: inbound.Followup, reply: BotReply | None, latency: int) -> str:
    with db.session_scope() as session:
        conversation = session.get(Conversation, followup.conversation_id)
        contact = session.get(Contact, followup.contact_id)
        if conversation is not None and not inbound.later_question(session, conversation.id, followup.message_id):
            conversation.bot_pending_since = None  # answered or handed over below, in this transaction
        if conversation is None or contact is None or conversation.status != ConversationStatus.BOT:
            return "skipped"
        handed = reply is None or reply.refused or reply.unsure
        if reply is not None:
            session.add(ChatbotInteraction(channel="whatsapp", conversation_id=conversation.id,
                                           question=followup.text, answer=reply.text, refused=reply.refused,
                                           handed_over=handed, extractive=reply.extractive, sources=reply.sources,
                                           top_score=reply.top_score, latency_ms=latency,
                                           topic=models.chatbot_topic(reply.sources, reply.refused)))
        if handed:
            reason = "no_bot" if reply is None else "bot_refused" if reply.refused else "bot_unsure"
            inbound.hand_over(conversation, reason)
            inbound.notify(session, contact, conversation, BOT_UNSURE_NOTICE, "handover_notice")
            log.info("Conversation %s handed to the agents (%s)", conversation.id, reason)
            return "handed_over"

        try:
            message = messaging.send_text(session, contact, reply.text, author="bot",  # type: ignore[union-attr]
                                          conversation_id=conversation.id, purpose="bot_answer")
        except UserError as err:
            log.warning("Bot answer to %s not sent: %s", mask_phone(contact.phone), err)
            inbound.hand_over(conversation, "send_failed")
            return "handed_over"
        message.sources = reply.sources  # type: ignore[union-attr]
        conversation.last_message_at = utcnow()
        return "answered"


_DEFAULT: Any = object()


def drain(*, max_runtime: float = MAX_RUNTIME_SECONDS, batch: int = 500, linger: float = LINGER_SECONDS,
          answerer: Answerer | None = _DEFAULT) -> dict[str, int]:
    """Apply stored events until none wait (or time is up), answering the bot's questions as they
    come. `answerer`: the knowledge base's by default; None: no bot, every question to the agents."""
    queue.release(DRAIN_FLAG)  # arrivals from now on ask for another drain
    if answerer is _DEFAULT:
        answerer = default_answerer() if get_settings().chatbot_enabled else None
    started = time.monotonic()
    totals = {"applied": 0, "failed": 0, "ignored": 0, "answered": 0, "handed_over": 0}
    # What the events decide to say (confirmations, answers) is sent alongside, as soon as committed:
    # a delivery job queued behind this drain would wait for it to end.
    done_draining = threading.Event()
    sender = threading.Thread(target=_deliver_alongside, args=(done_draining,), name="outbox-alongside", daemon=True)
    sender.start()
    try:
        _drain_loop(started, max_runtime, batch, linger, answerer, totals)
    finally:
        done_draining.set()
        sender.join(timeout=120)
    if any(totals.values()):
        log.info("Inbound drain: %s", totals)
    return totals


def _deliver_alongside(done: threading.Event) -> None:
    try:
        outbox_worker.deliver(until=done)
    except Exception:  # noqa: BLE001 - what is recorded waits for the next delivery job or sweep
        log.exception("Outbox delivery alongside the drain stopped")


def _drain_loop(started: float, max_runtime: float, batch: int, linger: float, answerer: Answerer | None,
                totals: dict[str, int]) -> None:
    idle_since: float | None = None
    while time.monotonic() - started < max_runtime:
        with db.session_scope() as session:
            result = inbound.process_pending(session, limit=batch)
        totals["applied"] += result.applied
        for kind in ("applied", "failed", "ignored"):
            if getattr(result, kind):
                metrics.INBOUND_APPLIED.labels(kind).inc(getattr(result, kind))
        totals["failed"] += result.failed
        totals["ignored"] += result.ignored
        for followup in result.followups:
            outcome = answer(followup, answerer)
            if outcome in totals:
                totals[outcome] += 1
        done = result.applied + result.failed + result.ignored
        if done:
            idle_since = None
        else:
            # Stay a moment for the rest of a burst: a job (a fork under RQ) per trickle costs more.
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= linger:
                break
        if done < batch // 2:
            time.sleep(IDLE_PAUSE_SECONDS)  # events trickling in: let a batch gather rather than spin
    else:
        request_drain()  # time is up with events left: another job continues
