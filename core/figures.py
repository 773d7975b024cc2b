"""What each message figure means, defined once and used by every screen and export: the campaign
list, the campaign detail, the statistics cards, charts and tables, and their CSV/Excel files.

- Envoyés: every message handed to WhatsApp, failed ones included (statuses sent, delivered, read,
  failed). People left out before sending (skipped) and messages still waiting are not counted.
- Remis: delivered or read (a read message was delivered).
- Lus: read.
- Répondus: messages the person answered (REPLY_ATTRIBUTION_DAYS), among the Envoyés.
- Échecs: failed, whether refused at sending or reported failed afterwards.
Rates are shares of Envoyés.

The chatbot's figures count the questions of people on WhatsApp only: the test questions staff ask
on the « Assistant virtuel » screen are never part of the statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import RecipientStats

SENT = ("sent", "delivered", "read", "failed")
DELIVERED = ("delivered", "read")
READ = ("read",)
FAILED = ("failed",)
WAITING = ("pending", "sending")
BOT_CHANNEL = "whatsapp"  # the statistics count people's questions, not the staff's tests

LABELS = {"sent": "Envoyés", "delivered": "Remis", "read": "Lus", "replied": "Répondus", "failed": "Échecs"}
HELP = {
    "sent": "Messages remis à WhatsApp, échecs compris (les personnes écartées et les messages en attente "
            "ne comptent pas).",
    "delivered": "Messages arrivés sur le téléphone (les messages lus en font partie), en part des envoyés.",
    "read": "Messages ouverts par la personne, en part des envoyés.",
    "replied": "Messages auxquels la personne a répondu, en part des envoyés.",
    "failed": "Messages refusés par WhatsApp à l'envoi ou signalés en échec ensuite, en part des envoyés.",
}
RATE_LABELS = {"delivered": "Taux de remise", "read": "Taux de lecture", "replied": "Taux de réponse",
               "failed": "Taux d'échec"}


@dataclass(frozen=True)
class Funnel:
    sent: int = 0
    delivered: int = 0
    read: int = 0
    replied: int = 0
    failed: int = 0

    @classmethod
    def of(cls, by_status: Mapping[str, int], replied: int = 0) -> Funnel:
        """From counts of messages by ledger status (and how many of them were answered)."""
        def total(statuses: tuple[str, ...]) -> int:
            return sum(int(by_status.get(s, 0) or 0) for s in statuses)
        return cls(total(SENT), total(DELIVERED), total(READ), int(replied or 0), total(FAILED))

    def __add__(self, other: Funnel) -> Funnel:
        return Funnel(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[int, int, int, int, int]:
        return self.sent, self.delivered, self.read, self.replied, self.failed

    def rate(self, key: str) -> float:
        return getattr(self, key) / self.sent if self.sent else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "delivered": self.delivered, "read": self.read, "replied": self.replied,
                "failed": self.failed, **{f"{key}_rate": self.rate(key) for key in RATE_LABELS}}


def by_campaign(session: Session, campaign_ids: list[int] | None = None) -> dict[int, Funnel]:
    """Each campaign's funnel from the summary tables (core/stats.py), the ones the statistics read:
    the list and the statistics give the same figures for the same campaign."""
    S = RecipientStats
    stmt = select(S.campaign_id, S.status, func.sum(S.n), func.sum(S.replied)).group_by(S.campaign_id, S.status)
    if campaign_ids is not None:
        stmt = stmt.where(S.campaign_id.in_(campaign_ids))
    counts: dict[int, dict[str, int]] = {}
    replied: dict[int, int] = {}
    for campaign_id, status, n, answered in session.execute(stmt).all():
        counts.setdefault(campaign_id, {})[status] = int(n or 0)
        if status in SENT:
            replied[campaign_id] = replied.get(campaign_id, 0) + int(answered or 0)
    return {cid: Funnel.of(by_status, replied.get(cid, 0)) for cid, by_status in counts.items()}
