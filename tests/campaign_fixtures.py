"""A small audience and an approved template, for campaign and dispatch tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import campaigns, segments, templates
from core.models import Contact

TEMPLATE = {
    "name": "rappel_certificat_vie", "language": "fr", "category": "UTILITY", "status": "APPROVED",
    "body": "Bonjour {{1}}, déposez votre certificat de vie à {{2}} avant le {{3}}.",
    "variable_mapping": {"1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"},
                         "2": {"source": "attribute", "attribute": "agence"},
                         "3": {"source": "text", "text": "31 janvier 2027"}},
}


@dataclass
class Audience:
    template_id: int
    segment_id: int
    opted_out_ids: list[int]
    no_agency_ids: list[int]
    reachable: int


def make_audience(session: Session, size: int = 40, *, phone_prefix: str = "+2417701") -> Audience:
    template = templates.save(session, TEMPLATE)
    contacts = []
    for i in range(size):
        contacts.append(Contact(
            phone=f"{phone_prefix}{i:04d}", first_name=None if i % 10 == 0 else f"Prénom{i}", last_name=f"Nom{i}",
            attributes={"agence": "Oyem"} if i % 7 else {}, consent_status="opted_out" if i % 13 == 5 else "opted_in"))
    session.add_all(contacts)
    session.flush()
    segment = segments.create(session, name="Audience test", kind="static")
    segments.add_members(session, segment, [c.id for c in contacts])
    session.flush()
    opted_out = [c.id for c in contacts if c.consent_status == "opted_out"]
    no_agency = [c.id for c in contacts if not c.attributes and c.consent_status != "opted_out"]
    return Audience(template.id, segment.id, opted_out, no_agency, size - len(opted_out))


def make_campaign(session: Session, audience: Audience, **kw) -> campaigns.Campaign:  # noqa: ANN003
    data = campaigns.CampaignInput(name=kw.pop("name", "Certificats de vie"), template_id=audience.template_id,
                                   include_segment_ids=[audience.segment_id], quiet_hours=kw.pop("quiet_hours", None),
                                   **kw)
    return campaigns.create(session, data)
