"""What the playground keeps: each question put to the chatbot, its answer, and the agents'
thumbs up / down with a comment, for review."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.errors import NotFound, UserError
from core.models import ChatbotInteraction, chatbot_topic
from rag.answer import Answer


def record(session: Session, question: str, result: Answer, *, user_id: int | None, channel: str = "playground",
           conversation_id: int | None = None) -> ChatbotInteraction:
    interaction = ChatbotInteraction(channel=channel, conversation_id=conversation_id, user_id=user_id,
                                     question=question, answer=result.text, refused=result.refused,
                                     handed_over=result.refused, extractive=result.extractive,
                                     sources=result.sources, top_score=result.scores.get("confidence"),
                                     latency_ms=result.latency_ms,
                                     topic=chatbot_topic(result.sources, result.refused))
    session.add(interaction)
    session.flush()
    return interaction


def rate(session: Session, interaction_id: int, value: int, comment: str = "") -> ChatbotInteraction:
    if value not in (1, -1):
        raise UserError("Avis attendu : utile ou pas utile.")
    interaction = session.get(ChatbotInteraction, interaction_id)
    if interaction is None:
        raise NotFound("Cette réponse n'existe plus.")
    interaction.feedback = value
    interaction.feedback_comment = comment.strip()[:2000] or None
    return interaction
