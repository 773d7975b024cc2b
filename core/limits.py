"""How many more messages may leave now, whatever the dispatchers' rate:

- WhatsApp's messaging limit (MESSAGING_LIMIT): unique people a business portfolio reaches with
  templates per rolling 24 hours, shared by every campaign. A campaign larger than what remains sends
  what it can and continues as the oldest sends leave the 24-hour window.
- A campaign's end (`ends_at`): past it, what has not left is skipped as `expired`.
- A campaign's spending cap (`budget_fcfa`): every message that has left is counted as delivered
  (the estimate cannot be lower than what is billed); at the cap the campaign pauses, with the reason.

ledger.claim asks `allowance` before taking rows; the check and the claim share one transaction and,
when a messaging limit is set, a lock, so that workers on several machines cannot together pass it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core import audit, campaigns, db, fmt
from core.config import get_settings
from core.models import Campaign, CampaignStatus, Recipient, RecipientStatus, Template
from core.timeutil import format_dt, utcnow

WINDOW = timedelta(hours=24)
LEFT = (RecipientStatus.SENDING, RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)


def messaging_limit() -> int | None:
    value = get_settings().messaging_limit.strip()
    return None if value == "unlimited" else int(value)


@dataclass(frozen=True)
class Window:
    limit: int
    reached: int  # unique people reached in the last 24 hours (or being sent to)
    frees_at: datetime | None  # when the oldest of those leaves the window

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.reached)


def window(session: Session, *, now: datetime | None = None) -> Window | None:
    """Where the portfolio stands against its messaging limit; None when there is none."""
    limit = messaging_limit()
    if limit is None:
        return None
    since = (now or utcnow()) - WINDOW
    in_window = or_(Recipient.sent_at >= since, Recipient.status == RecipientStatus.SENDING)
    reached, oldest = session.execute(
        select(func.count(func.distinct(Recipient.contact_id)), func.min(Recipient.sent_at))
        .where(in_window, Recipient.status.in_(LEFT))).one()
    return Window(limit, int(reached or 0), oldest + WINDOW if oldest else None)


def budget_left(session: Session, campaign: Campaign) -> int | None:
    """Messages the campaign's spending cap still allows; None when it has none."""
    if campaign.budget_fcfa is None:
        return None
    template = session.get(Template, campaign.template_id)
    price = campaigns.price_per_message(template.category if template else "")
    if price <= 0:
        return None
    left = session.scalar(select(func.count()).where(Recipient.campaign_id == campaign.id,
                                                     Recipient.status.in_(LEFT))) or 0
    return max(0, int(campaign.budget_fcfa // price) - left)


def expire(session: Session, campaign: Campaign, *, now: datetime | None = None) -> int:
    """Past the campaign's end: what has not left will not (skipped, `expired`); the campaign then
    completes as usual. Returns how many rows that was."""
    expired = db.changed(session, update(Recipient).where(
        Recipient.campaign_id == campaign.id, Recipient.status == RecipientStatus.PENDING).values(
        status=RecipientStatus.SKIPPED, skip_reason="expired", next_attempt_at=None, updated_at=now or utcnow()))
    if expired:
        audit.record(session, "campaign_expired", actor_email="system", target_type="campaign", target_id=campaign.id,
                     details={"recipients": expired, "ends_at": format_dt(campaign.ends_at)})
    return expired


def allowance(session: Session, campaign_id: int, wanted: int, *, now: datetime | None = None) -> int:
    """How many of the `wanted` rows may be claimed now. At its spending cap a running campaign is
    paused with the reason; held by the messaging limit it simply waits (rows stay pending)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return 0
    if campaign.ends_at is not None and (now or utcnow()) >= campaign.ends_at:
        expire(session, campaign, now=now)
        return 0
    allowed = wanted
    if campaign.budget_fcfa is not None:  # two dispatchers of the campaign do not spend the rest twice
        db.serialize(session, f"campaign-budget-{campaign.id}")
    budget = budget_left(session, campaign)
    if budget is not None:
        if budget <= 0:
            if campaign.status == CampaignStatus.RUNNING:
                campaigns.transition(session, campaign, CampaignStatus.PAUSED, actor_email="system", reason=(
                    f"Plafond de dépense atteint ({fmt.fcfa(campaign.budget_fcfa)})"
                    + " : relevez-le dans le détail de la campagne pour reprendre."))
            return 0
        allowed = min(allowed, budget)
    if messaging_limit() is not None:
        db.serialize(session, "messaging-limit")  # one claim at a time reads and uses what remains
        current = window(session, now=now)
        assert current is not None
        allowed = min(allowed, current.remaining)
    return max(0, allowed)


def plan(session: Session, recipients: int, start: datetime) -> str | None:
    """What the messaging limit means for a campaign of `recipients` leaving at `start`, in French."""
    current = window(session, now=start)
    if current is None:
        return None
    if recipients <= current.remaining:
        return (f"Limite de messagerie WhatsApp : {current.limit} personnes par 24 h ; {current.remaining} encore "
                "possibles : la campagne tient dans la limite.")
    days = 1 + -(-(recipients - current.remaining) // current.limit)
    return (f"Limite de messagerie WhatsApp : {current.limit} personnes par 24 h, {current.remaining} encore "
            f"possibles : {current.remaining} partent d'abord, la suite les jours suivants (environ {days} jours "
            "en tout).")


def progress_note(session: Session, pending: int, *, now: datetime | None = None) -> str | None:
    """For a running campaign with `pending` people left: what the messaging limit means for its end."""
    current = window(session, now=now)
    if current is None or pending <= current.remaining:
        return None
    days = -(-(pending - current.remaining) // current.limit)
    if current.remaining == 0:
        start = f"reprise vers le {format_dt(current.frees_at)}"
    else:
        start = f"{current.remaining} peuvent encore partir dans les 24 h"
    return (f"Limite de messagerie WhatsApp ({current.limit} personnes par 24 h) : {start} ; la campagne continuera "
            f"{'le jour suivant' if days <= 1 else f'pendant {days} jours de plus'} pour les {pending} restantes.")
