"""The Templates screen, driven as a user would."""

from __future__ import annotations

import json

from sqlalchemy import select

from core import db
from core.models import AuditLog, Contact, Template
from tests.pages.conftest import app_as


def open_templates(user_id: int):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page("pages/templates.py").run()


def test_create_a_template_with_rules_explained_next_to_fields(seeded) -> None:  # noqa: ANN001
    at = open_templates(seeded["manager"])
    assert at.selectbox(key="template_choice").value == 0  # new template
    at.text_input(key="t0_name").input("Rappel Cotisation")
    at.text_area(key="t0_body").input("{{1}}, votre cotisation est attendue.").run()
    [summary] = [w.value for w in at.warning if "à corriger avant l'enregistrement" in w.value]
    # Listed at the top, each problem a link to its field; the variable nothing names is not a first name.
    assert "[Nom](#champ-name)" in summary and "[Corps du message](#champ-body)" in summary
    assert "[Variable {{1}}](#champ-variable_mapping) : le texte fixe est vide" in summary
    at.button(key="t0_save").click().run()
    errors = [e.value for e in at.error]
    assert any("minuscules" in e for e in errors) and any("commencer par une variable" in e for e in errors)
    with db.session_scope() as session:
        assert session.scalar(select(Template).where(Template.name == "Rappel Cotisation")) is None
    at.text_input(key="t0_name").input("rappel_cotisation")
    at.text_area(key="t0_body").input("Bonjour {{1}}, votre cotisation est attendue.").run()
    at.selectbox(key="t0_m_1_src").set_value("field").run()
    at.text_input(key="t0_m_1_fallback").input("Madame, Monsieur").run()
    assert "Bonjour Awa, votre cotisation" in next(m.value for m in at.markdown if "background:#e5ddd5" in m.value)
    at.button(key="t0_save").click().run()
    assert not at.exception
    with db.session_scope() as session:
        tpl = session.scalar(select(Template).where(Template.name == "rappel_cotisation"))
        assert tpl.variable_mapping == {"1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"}}
        creator = session.scalar(select(AuditLog.actor_id).where(AuditLog.action == "template_created"))
        assert creator == seeded["manager"]


def test_preview_with_a_real_contact_and_a_test_send(seeded, monkeypatch) -> None:  # noqa: ANN001
    from core.config import reload_settings

    monkeypatch.setenv("OUTBOX_DELIVER_AFTER_COMMIT", "true")  # the test send leaves right after its commit
    reload_settings()
    with db.session_scope() as session:
        tpl = session.scalar(select(Template).where(Template.name == "date_paiement_pension"))
        contact = session.scalar(select(Contact).where(Contact.first_name.is_not(None),
                                                       Contact.phone.startswith("+241")))
        tpl_id, phone, first = tpl.id, contact.phone, contact.first_name
    at = open_templates(seeded["manager"])
    at.selectbox(key="template_choice").select(tpl_id).run()
    at.text_input(key=f"t{tpl_id}_preview_phone").input(phone).run()
    bubble = next(m.value for m in at.markdown if "background:#e5ddd5" in m.value)
    assert f"Bonjour {first}, la CNSS" in bubble
    at.text_input(key=f"t{tpl_id}_test_to").input("077 28 01 50")
    at.button(key=f"t{tpl_id}_test_send").click().run()
    assert any("Le test est parti" in s.value for s in at.success), [e.value for e in at.error]


def test_json_import_reports_refused_templates(seeded) -> None:  # noqa: ANN001
    at = open_templates(seeded["admin"])
    payload = [{"name": "nouveau_modele", "language": "fr", "category": "UTILITY", "status": "APPROVED",
                "body": "Bonjour {{1}} !", "variable_mapping": {"1": {"source": "field", "field": "first_name"}}},
               {"name": "Mauvais Nom", "language": "fr", "category": "UTILITY", "body": ""}]
    at.file_uploader(key="templates_import").upload("m.json", json.dumps(payload).encode(), "application/json").run()
    at.button(key="templates_import_go").click().run()
    assert any("1 modèle(s) créé(s)" in s.value for s in at.success)
    assert any("Refusé : Mauvais Nom" in e.value for e in at.error)


def test_supervisor_sees_but_cannot_edit(seeded) -> None:  # noqa: ANN001
    at = open_templates(seeded["supervisor"])
    assert at.text_input(key=at.selectbox(key="template_choice").value and
                         f"t{at.selectbox(key='template_choice').value}_name").disabled
    assert not [b for b in at.button if b.label in ("Enregistrer le modèle", "Supprimer", "Envoyer le test")]
    assert not at.file_uploader
