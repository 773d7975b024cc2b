"""The few figures the home screen shows, each one SQL aggregate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignStatus, ConsentStatus, Contact, Conversation, ConversationStatus, Template


@dataclass(frozen=True)
class Summary:
    contacts: int
    opted_in: int
    opted_out: int
    approved_templates: int
    campaigns_running: int
    campaigns_scheduled: int
    campaigns_completed: int
    conversations_waiting: int


def summary(session: Session) -> Summary:
    consent = dict(session.execute(select(Contact.consent_status, func.count()).group_by(Contact.consent_status)).all())
    campaigns = dict(session.execute(select(Campaign.status, func.count()).group_by(Campaign.status)).all())
    return Summary(
        contacts=sum(consent.values()),
        opted_in=consent.get(ConsentStatus.OPTED_IN, 0),
        opted_out=consent.get(ConsentStatus.OPTED_OUT, 0),
        approved_templates=session.scalar(
            select(func.count()).select_from(Template).where(Template.status == "APPROVED")) or 0,
        campaigns_running=campaigns.get(CampaignStatus.RUNNING, 0),
        campaigns_scheduled=campaigns.get(CampaignStatus.SCHEDULED, 0),
        campaigns_completed=campaigns.get(CampaignStatus.COMPLETED, 0),
        conversations_waiting=session.scalar(
            select(func.count()).select_from(Conversation)
            .where(Conversation.status == ConversationStatus.WAITING_AGENT)
        ) or 0,
    )
