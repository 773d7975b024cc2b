"""Approval of a campaign by a second person before it leaves (CAMPAIGN_APPROVAL: never, always,
or above N recipients). A manager submits; a supervisor or an administrator who neither created
nor submitted it approves (which launches it) or rejects it with a comment; editing a submitted or
approved draft sends it back. Every step is audited; the approver sees the same review as the author."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit, campaigns, db, outbox, segments, templates
from core.config import get_settings
from core.errors import UserError
from core.models import AuditLog, Campaign, CampaignStatus, Contact, Role, Segment, Template, User
from core.text import one_line
from core.timeutil import format_dt, utcnow

SUBMITTED, APPROVED, REJECTED = "submitted", "approved", "rejected"
APPROVERS = (Role.SUPERVISOR, Role.ADMIN)
SUBMITTERS = (Role.MANAGER, Role.ADMIN)


threshold = campaigns.approval_threshold
required_for = campaigns.approval_required_for


required = campaigns.needs_approval


def rule() -> str:
    """The setting, in French, for the screens."""
    limit = threshold()
    if limit is None:
        return "Les campagnes partent sans validation."
    if limit == 0:
        return "Toute campagne est validée par un superviseur ou un administrateur avant de partir."
    return (f"Une campagne de plus de {limit} destinataires est validée par un superviseur ou un administrateur "
            "avant de partir.")


def submit(session: Session, campaign: Campaign, *, actor: User, now: datetime | None = None) -> Campaign:
    if actor.role not in SUBMITTERS or not actor.is_active:
        raise UserError("Seuls les responsables et les administrateurs soumettent une campagne.")
    db.lock_for_write(session, campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise UserError("Seul un brouillon peut être soumis à validation.")
    if campaign.approval_status == SUBMITTED:
        raise UserError("Cette campagne attend déjà une validation.")
    if campaign.approval_status == REJECTED:
        raise UserError("Cette campagne a été refusée : modifiez le brouillon d'après le commentaire, puis "
                        "soumettez-le.")
    now = now or utcnow()
    if error := campaigns.past_start_error(campaign.scheduled_at, now):
        raise UserError(error + " Modifiez le brouillon avant de le soumettre.")
    campaign.approval_status, campaign.submitted_by, campaign.submitted_at = SUBMITTED, actor.id, now
    campaign.decided_by = campaign.decided_at = campaign.approval_comment = None
    audit.record(session, "campaign_submitted", actor=actor, target_type="campaign", target_id=campaign.id,
                 details={"name": campaign.name})
    return campaign


def authors(session: Session, campaign: Campaign) -> set[int]:
    """Everyone who wrote any of it: who created it, edited it or submitted it."""
    wrote = {i for i in session.scalars(select(AuditLog.actor_id).where(
        AuditLog.target_type == "campaign", AuditLog.target_id == str(campaign.id),
        AuditLog.action.in_(["campaign_created", "campaign_updated", "campaign_submitted",
                             "campaign_budget_changed"]))) if i is not None}
    return wrote | {i for i in (campaign.created_by, campaign.submitted_by) if i is not None}


def can_decide(session: Session, campaign: Campaign, actor: User) -> str | None:
    """Why `actor` may not decide on this campaign (French), or None."""
    if actor.role not in APPROVERS or not actor.is_active:
        return "Seuls les superviseurs et les administrateurs valident une campagne."
    if campaign.approval_status != SUBMITTED or campaign.status != CampaignStatus.DRAFT:
        return "Cette campagne n'attend pas de validation."
    if actor.id in authors(session, campaign):
        return "Vous avez préparé ou modifié cette campagne : une autre personne doit la valider."
    return None


TEST_GROUP_MAX = 50  # staff phones a test group may hold
TEST_GROUP_AGAIN = timedelta(minutes=2)  # a second send sooner is a second click, not a second test


def test_group(session: Session) -> Segment | None:
    """The staff segment that receives a campaign before it can be approved (TEST_GROUP_SEGMENT)."""
    name = get_settings().test_group_segment.strip()
    if not name:
        return None
    segment = session.scalar(select(Segment).where(Segment.name == name))
    if segment is None:
        raise UserError(f"Le groupe de test « {name} » (réglage TEST_GROUP_SEGMENT) n'existe pas : créez ce segment "
                        "ou corrigez le réglage.")
    return segment


def test_group_sent_at(session: Session, campaign: Campaign) -> datetime | None:
    """When the test group last received this campaign since it was submitted."""
    if campaign.submitted_at is None:
        return None
    return session.scalar(select(func.max(AuditLog.at)).where(
        AuditLog.action == "campaign_test_group_sent", AuditLog.target_type == "campaign",
        AuditLog.target_id == str(campaign.id), AuditLog.at >= campaign.submitted_at))


def send_to_test_group(session: Session, campaign: Campaign, *, actor: User) -> int:
    """The campaign's message, with its first recipient's values, to every phone of the test group;
    returns how many were sent. The author or an approver; only while it waits for approval."""
    if actor.role not in (*SUBMITTERS, *APPROVERS) or not actor.is_active:
        raise UserError("Seuls les responsables, les superviseurs et les administrateurs envoient au groupe de test.")
    db.lock_for_write(session, campaign)  # two clicks: the second sees the first's send
    if campaign.status != CampaignStatus.DRAFT or campaign.approval_status != SUBMITTED:
        raise UserError("Le groupe de test reçoit une campagne soumise à validation.")
    last = test_group_sent_at(session, campaign)
    if last is not None and utcnow() - last < TEST_GROUP_AGAIN:
        raise UserError(f"Le groupe de test vient de recevoir ce message ({format_dt(last, with_seconds=True)}) : "
                        "vérifiez les téléphones avant de l'envoyer à nouveau.")
    group = test_group(session)
    if group is None:
        raise UserError("Aucun groupe de test n'est prévu (réglage TEST_GROUP_SEGMENT).")
    template = session.get(Template, campaign.template_id)
    if template is None:
        raise UserError("Modèle introuvable.")
    staff = list(session.scalars(select(Contact).where(segments.audience_condition(session, [group.id]))
                                 .order_by(Contact.id).limit(TEST_GROUP_MAX + 1)))
    if not staff:
        raise UserError(f"Le groupe de test « {group.name} » ne contient aucun numéro joignable.")
    if len(staff) > TEST_GROUP_MAX:
        raise UserError(f"Le groupe de test « {group.name} » dépasse {TEST_GROUP_MAX} numéros : ce n'est plus un test.")
    components, body = _first_message(session, campaign, template)
    for member in staff:
        outbox.add_template(session, phone=member.phone, name=template.name, language=template.language,
                            components=components, body=body, purpose="campaign_test_group", contact=member,
                            template_id=template.id, actor=actor, thread=False)
    audit.record(session, "campaign_test_group_sent", actor=actor, target_type="campaign", target_id=campaign.id,
                 details={"segment": group.name, "phones": len(staff)})
    return len(staff)


def _first_message(session: Session, campaign: Campaign, template: Template) -> tuple[list[dict[str, Any]], str]:
    """The message as the first recipient who will receive it reads it (one with every variable)."""
    audience = segments.audience_condition(session, campaign.include_segment_ids, campaign.exclude_segment_ids,
                                           marketing=campaigns.is_marketing(template))
    for contact in session.scalars(select(Contact).where(audience).order_by(Contact.id).limit(50)):
        try:
            return templates.prepare(template, contact, campaign.variable_mapping)
        except UserError:
            continue  # left out at launch: the next one
    raise UserError("Aucun des premiers destinataires n'a toutes les variables du modèle : vérifiez la campagne.")


COMMENT_MAX = 1000


def _comment(text: str | None) -> str:
    """A comment as typed, lines kept, without control or invisible characters; refused when too long."""
    cleaned = "\n".join(one_line(line) for line in (text or "").strip().splitlines()).strip()
    if len(cleaned) > COMMENT_MAX:
        raise UserError(f"Le commentaire dépasse {COMMENT_MAX} caractères ({len(cleaned)}) : raccourcissez-le.")
    return cleaned


def approve(session: Session, campaign: Campaign, *, actor: User, comment: str = "",
            now: datetime | None = None) -> Campaign:
    """Approved, then launched at once (or scheduled for its start) in the same transaction; read
    again under a lock, so that two approvers clicking at once launch it once. With a test group,
    only once the group has received it."""
    db.lock_for_write(session, campaign)
    if reason := can_decide(session, campaign, actor):
        raise UserError(reason)
    now = now or utcnow()
    if campaigns.past_start_error(campaign.scheduled_at, now):
        raise UserError(f"La date de départ de cette campagne ({format_dt(campaign.scheduled_at)}) est passée : "
                        "refusez-la en le disant, son auteur la corrigera.")
    group = test_group(session)
    if group is not None and test_group_sent_at(session, campaign) is None:
        raise UserError(f"Le groupe de test « {group.name} » doit d'abord recevoir le message : « Envoyer au groupe "
                        "de test », vérifiez-le sur les téléphones, puis approuvez.")
    campaign.approval_status, campaign.decided_by, campaign.decided_at = APPROVED, actor.id, now
    campaign.approval_comment = _comment(comment) or None
    campaign.approved_recipients = campaigns.estimate(session, campaign).audience.reachable
    audit.record(session, "campaign_approved", actor=actor, target_type="campaign", target_id=campaign.id,
                 details={"comment": campaign.approval_comment})
    return campaigns.launch(session, campaign, actor=actor, now=now)


def reject(session: Session, campaign: Campaign, *, actor: User, comment: str, now: datetime | None = None) -> Campaign:
    db.lock_for_write(session, campaign)
    if reason := can_decide(session, campaign, actor):
        raise UserError(reason)
    text = _comment(comment)
    if not one_line(text):
        raise UserError("Dites pourquoi la campagne est refusée : l'auteur lira ce commentaire.")
    campaign.approval_status, campaign.decided_by, campaign.decided_at = REJECTED, actor.id, now or utcnow()
    campaign.approval_comment = text
    audit.record(session, "campaign_rejected", actor=actor, target_type="campaign", target_id=campaign.id,
                 details={"comment": campaign.approval_comment})
    return campaign


def people(session: Session, campaign: Campaign) -> dict[int, str]:
    """The names of who submitted and who decided, by id."""
    ids = [i for i in (campaign.submitted_by, campaign.decided_by) if i]
    return {u.id: u.name for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
