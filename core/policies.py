"""WhatsApp's own failure codes, turned into what a careful operator would do, in the transaction
that records the failure (so a verdict is neither lost nor applied twice):

- 131049 (the person's marketing cap was reached): the message is tried again once, a day later
  (MARKETING_CAP_RETRY_HOURS), if that is before the campaign's end; a campaign already completed is
  reopened for it.
- 131050 (the person stopped marketing messages): left out of marketing campaigns from now on;
  utility and authentication templates still reach them.
- 131026 (undeliverable: no WhatsApp, an old app...) for the second time (two sends): the contact is
  marked « pas sur WhatsApp » and left out of campaigns until someone clears the mark.
- 132015 / 132016 (the template is paused / disabled by WhatsApp): the template's status follows,
  and every running campaign that uses it is paused with the reason.

Called by ledger.record (failures answered to a send) and statuses (failures polled later)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import audit, campaigns
from core.config import get_settings
from core.models import (
    Campaign,
    CampaignStatus,
    Contact,
    Recipient,
    RecipientStatus,
    StatusEvent,
    Template,
    TemplateStatus,
)
from core.timeutil import format_dt, utcnow

log = logging.getLogger(__name__)

MARKETING_CAP, MARKETING_REFUSED, UNDELIVERABLE = "131049", "131050", "131026"
TEMPLATE_PAUSED, TEMPLATE_DISABLED = "132015", "132016"
CODES = frozenset({MARKETING_CAP, MARKETING_REFUSED, UNDELIVERABLE, TEMPLATE_PAUSED, TEMPLATE_DISABLED})
UNDELIVERABLE_TIMES = 2  # sends answered 131026 before the contact is marked « pas sur WhatsApp »


def on_failures(session: Session, failures: Iterable[tuple[int, str | None]], *, now: datetime | None = None) -> None:
    """Apply the policies to recipients (by id) that have just failed with a WhatsApp code."""
    by_code: dict[str, set[int]] = {}
    for recipient_id, code in failures:
        if code in CODES:
            by_code.setdefault(code, set()).add(recipient_id)
    if not by_code:
        return
    now = now or utcnow()
    if MARKETING_CAP in by_code:
        _retry_marketing_cap(session, by_code[MARKETING_CAP], now)
    if MARKETING_REFUSED in by_code:
        _refuse_marketing(session, by_code[MARKETING_REFUSED], now)
    if UNDELIVERABLE in by_code:
        _not_on_whatsapp(session, by_code[UNDELIVERABLE], now)
    for code, status in ((TEMPLATE_PAUSED, TemplateStatus.PAUSED), (TEMPLATE_DISABLED, TemplateStatus.DISABLED)):
        if code in by_code:
            _template_stopped(session, by_code[code], code, status)
    session.flush()


def _retry_marketing_cap(session: Session, ids: set[int], now: datetime) -> None:
    """Once per recipient: back to pending, due a day later; the failure stays in the events."""
    hours = get_settings().marketing_cap_retry_hours
    rows = session.execute(select(Recipient.id, Recipient.campaign_id).where(
        Recipient.id.in_(ids), Recipient.status == RecipientStatus.FAILED,
        Recipient.error_code == MARKETING_CAP)).all()
    if not rows:
        return
    capped = dict(session.execute(select(StatusEvent.recipient_id, func.count()).where(
        StatusEvent.recipient_id.in_([r.id for r in rows]), StatusEvent.status == "failed",
        StatusEvent.error_code == MARKETING_CAP).group_by(StatusEvent.recipient_id)).all())
    by_id = {c.id: c for c in session.scalars(select(Campaign).where(
        Campaign.id.in_({r.campaign_id for r in rows})))}
    open_ = (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.COMPLETED)
    due = now + timedelta(hours=hours)
    def before_end(campaign: Campaign) -> bool:
        return campaign.ends_at is None or due < campaign.ends_at

    again = [r for r in rows if capped.get(r.id, 0) <= 1 and by_id[r.campaign_id].status in open_
             and before_end(by_id[r.campaign_id])]
    if not again:
        return
    session.execute(update(Recipient).where(Recipient.id.in_([r.id for r in again])).values(
        status=RecipientStatus.PENDING, next_attempt_at=due, failed_at=None, lease_owner=None,
        lease_expires_at=None, updated_at=now,
        # The old message's id goes: a late or repeated status for it must not touch the new send.
        provider_message_id=None))
    for campaign_id in {r.campaign_id for r in again}:
        campaign = by_id[campaign_id]
        n = sum(1 for r in again if r.campaign_id == campaign_id)
        reason = (f"{n} personne{'s' if n > 1 else ''} au plafond marketing de WhatsApp (131049) : nouvel essai "
                  f"le {format_dt(due)}.")
        if campaign.status == CampaignStatus.COMPLETED:  # reopened for the retry (not a user's transition)
            campaign.status, campaign.completed_at, campaign.status_reason = CampaignStatus.RUNNING, None, reason
            audit.record(session, "campaign_reopened", actor_email="system", target_type="campaign",
                         target_id=campaign_id, details={"reason": reason})
        audit.record(session, "campaign_marketing_cap_retry", actor_email="system", target_type="campaign",
                     target_id=campaign_id, details={"recipients": n, "due": due.isoformat()})
    log.info("Marketing cap (131049): %d recipient(s) tried again at %s", len(again), due.isoformat())


def _contacts_of(session: Session, ids: set[int]) -> list[int]:
    return list(session.scalars(select(Recipient.contact_id).where(Recipient.id.in_(ids)).distinct()))


def _refuse_marketing(session: Session, ids: set[int], now: datetime) -> None:
    contact_ids = list(session.scalars(select(Contact.id).where(  # locked in id order: no deadlock between workers
        Contact.id.in_(_contacts_of(session, ids)), Contact.marketing_refused_at.is_(None))
        .order_by(Contact.id).with_for_update()))
    if not contact_ids:
        return
    session.execute(update(Contact).where(Contact.id.in_(contact_ids)).values(marketing_refused_at=now))
    for contact_id in contact_ids:
        audit.record(session, "contact_marketing_refused", actor_email="system", target_type="contact",
                     target_id=contact_id, details={"code": MARKETING_REFUSED})


def _not_on_whatsapp(session: Session, ids: set[int], now: datetime) -> None:
    # Locked in id order, as above; a worker recording the other failure of the same person waits
    # here, then counts it (each statement sees what has committed): "twice" is not missed.
    candidates = list(session.scalars(select(Contact.id).where(
        Contact.id.in_(_contacts_of(session, ids)), Contact.not_on_whatsapp_at.is_(None))
        .order_by(Contact.id).with_for_update()))
    if not candidates:
        return
    times = dict(session.execute(select(Recipient.contact_id, func.count()).where(
        Recipient.contact_id.in_(candidates), Recipient.status == RecipientStatus.FAILED,
        Recipient.error_code == UNDELIVERABLE).group_by(Recipient.contact_id)).all())
    marked = [c for c in candidates if times.get(c, 0) >= UNDELIVERABLE_TIMES]
    if not marked:
        return
    session.execute(update(Contact).where(Contact.id.in_(marked)).values(not_on_whatsapp_at=now))
    for contact_id in marked:
        audit.record(session, "contact_not_on_whatsapp", actor_email="system", target_type="contact",
                     target_id=contact_id, details={"code": UNDELIVERABLE, "failures": times[contact_id]})


def _template_stopped(session: Session, ids: set[int], code: str, status: TemplateStatus) -> None:
    campaign_ids = set(session.scalars(select(Recipient.campaign_id).where(Recipient.id.in_(ids)).distinct()))
    template_ids = set(session.scalars(select(Campaign.template_id).where(Campaign.id.in_(campaign_ids))))
    word = "mis en pause" if status == TemplateStatus.PAUSED else "désactivé"
    for template in session.scalars(select(Template).where(Template.id.in_(template_ids))):
        if template.status == TemplateStatus.APPROVED:
            template.status = status
            audit.record(session, "template_status_synced", actor_email="system", target_type="template",
                         target_id=template.id, details={"status": status.value, "code": code})
        for campaign in session.scalars(select(Campaign).where(Campaign.template_id == template.id,
                                                               Campaign.status == CampaignStatus.RUNNING)).all():
            campaigns.transition(session, campaign, CampaignStatus.PAUSED, actor_email="system",
                                 reason=f"Le modèle « {template.name} » a été {word} par WhatsApp ({code}) : reprenez "
                                        "la campagne quand il sera de nouveau approuvé.")
