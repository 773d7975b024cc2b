"""The audit trail: written in the same transaction as the change it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import labels
from core.models import AuditLog, User


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    actor_email: str | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        action=action,
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else actor_email,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditLog]
    total: int


def list_entries(
    session: Session,
    *,
    action: str | None = None,
    actor_email: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    conditions = []
    if action:
        conditions.append(AuditLog.action == action)
    if actor_email:
        conditions.append(AuditLog.actor_email.ilike(f"%{actor_email.strip()}%"))
    if since:
        conditions.append(AuditLog.at >= since)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(*conditions)) or 0
    rows = session.scalars(
        select(AuditLog).where(*conditions).order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit).offset(offset)
    ).all()
    return AuditPage(rows=list(rows), total=total)


def label(action: str) -> str:
    return labels.AUDIT_ACTION.get(action, action)
