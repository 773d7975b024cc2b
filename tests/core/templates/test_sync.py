"""core.templates.sync: WhatsApp's decisions (status, quality) come from the provider's list."""

from __future__ import annotations

from sqlalchemy import select

from core import templates
from core.models import Template
from tests.core.templates import GOOD, with_


def test_sync_updates_from_the_provider(session) -> None:  # noqa: ANN001
    templates.save(session, with_(status="PENDING"))
    remote = [
        {"id": 1, "name": "rappel_cotisation", "language": "fr", "status": "APPROVED", "category": "UTILITY",
         "components": [{"type": "HEADER", "format": "TEXT", "text": "Rappel {{1}}"},
                        {"type": "BODY", "text": GOOD["body"]}, {"type": "FOOTER", "text": "CNSS Gabon"},
                        {"type": "BUTTONS", "buttons": GOOD["buttons"]}]},
        {"id": 2, "name": "nouveau_modele", "language": {"code": "fr"}, "status": "REJECTED", "category": "MARKETING",
         "quality_score": {"score": "RED"}, "components": [{"type": "BODY", "text": "Bonjour {{1}} !"}]},
    ]
    report = templates.sync(session, remote)
    assert report.summary() == {"created": 1, "updated": 1, "unchanged": 0}
    tpl = session.scalar(select(Template).where(Template.name == "rappel_cotisation"))
    assert tpl.status == "APPROVED" and tpl.variable_mapping == GOOD["variable_mapping"] and tpl.synced_at
    new = session.scalar(select(Template).where(Template.name == "nouveau_modele"))
    assert (new.status, new.quality, new.category) == ("REJECTED", "RED", "MARKETING")
    assert templates.sync(session, remote).summary() == {"created": 0, "updated": 0, "unchanged": 2}


def test_outside_the_sandbox_only_the_sync_sets_a_status(session, monkeypatch) -> None:  # noqa: ANN001
    from core.config import reload_settings
    from tests.factories import make_user

    manager = make_user(session, "manager")
    monkeypatch.setenv("RESPONDIO_API_TOKEN", "jeton-de-test")
    reload_settings()
    try:
        created = templates.save(session, {**GOOD, "status": "APPROVED", "quality": "GREEN"}, actor=manager)
        assert (created.status, created.quality) == ("PENDING", "UNKNOWN")  # a manager cannot approve it
        edited = templates.save(session, {**GOOD, "status": "APPROVED"}, actor=manager, template_id=created.id)
        assert edited.status == "PENDING" and templates.approved(session) == []
        report = templates.sync(session, [{"name": GOOD["name"], "language": GOOD["language"], "status": "APPROVED",
                                           "category": GOOD["category"], "components": []}])
        assert report.summary()["updated"] == 1 and templates.get(session, created.id).status == "APPROVED"
        approved = templates.save(session, {**GOOD, "name": "deja_approuve", "status": "APPROVED"})  # as synced
        kept = templates.save(session, templates.as_dict(approved), actor=manager, template_id=approved.id)
        assert kept.status == "APPROVED"  # saved unchanged: still what WhatsApp approved
        edited = templates.save(session, {**templates.as_dict(approved), "body": approved.body + " Merci."},
                                actor=manager, template_id=approved.id)
        assert edited.status == "PENDING"  # no longer the text WhatsApp approved
    finally:
        monkeypatch.delenv("RESPONDIO_API_TOKEN")
        reload_settings()
