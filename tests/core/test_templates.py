"""WhatsApp template rules one by one, variable mapping and rendering, JSON import/export, sync,
and the test send."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import messaging, templates
from core.errors import UserError
from core.models import AuditLog, Contact, Template

GOOD = {
    "name": "rappel_cotisation", "language": "fr", "category": "UTILITY", "status": "APPROVED",
    "header": {"format": "TEXT", "text": "Rappel {{1}}"},
    "body": "Bonjour {{1}}, votre cotisation de {{2}} est attendue avant le {{3}}. Merci.",
    "footer": "CNSS Gabon",
    "buttons": [{"type": "QUICK_REPLY", "text": "C'est payé"}, {"type": "QUICK_REPLY", "text": "Rappelez-moi"},
                {"type": "URL", "text": "Payer en ligne", "url": "https://e.cnss.ga/paiement/{{1}}"},
                {"type": "PHONE_NUMBER", "text": "Appeler", "phone_number": "+24111760000"}],
    "variable_mapping": {
        "1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"},
        "2": {"source": "attribute", "attribute": "periode"},
        "3": {"source": "text", "text": "15 janvier 2027"},
        "header": {"source": "text", "text": "cotisation"},
        "button_2": {"source": "attribute", "attribute": "matricule"},
    },
}


def with_(**changes) -> dict:  # noqa: ANN003
    return {**GOOD, **changes}


def test_a_good_template_has_no_problem() -> None:
    assert templates.validate(GOOD) == {}
    assert templates.validate_mapping(GOOD, GOOD["variable_mapping"]) == []
    assert templates.variable_keys(GOOD) == ["1", "2", "3", "header", "button_2"]


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "obligatoire"),
    ({"name": "Rappel"}, "name", "minuscules"),
    ({"name": "rappel-cotisation"}, "name", "minuscules"),
    ({"name": "1rappel"}, "name", "commencer par une lettre"),
    ({"name": "rappel_été"}, "name", "sans accent"),
    ({"language": "français"}, "language", "langue"),
    ({"category": "PROMO"}, "category", "MARKETING, UTILITY ou AUTHENTICATION"),
    ({"status": "OK"}, "status", "Statut"),
    ({"header": {"format": "TEXT", "text": "x" * 61}}, "header", "60 au maximum"),
    ({"header": {"format": "TEXT", "text": "{{1}} et {{2}}"}}, "header", "au plus 1 variable"),
    ({"header": {"format": "TEXT", "text": ""}}, "header", "vide"),
    ({"header": {"format": "GIF"}}, "header", "Type d'en-tête"),
    ({"header": {"format": "IMAGE", "text": "{{1}}"}}, "header", "média n'a pas de variable"),
    ({"body": ""}, "body", "obligatoire"),
    ({"body": "a" * 1025}, "body", "1024 au maximum"),
    ({"body": "{{1}}, bonjour"}, "body", "commencer par une variable"),
    ({"body": "Bonjour {{1}}"}, "body", "terminer par une variable"),
    ({"body": "Bonjour {{1}} et {{3}}."}, "body", "se suivre"),
    ({"body": "Bonjour {{2}}."}, "body", "se suivre"),
    ({"body": "Bonjour {{nom}}."}, "body", "numéro"),
    ({"footer": "x" * 61}, "footer", "60 au maximum"),
    ({"footer": "Merci {{1}}"}, "footer", "pas contenir de variable"),
    ({"buttons": [{"type": "QUICK_REPLY", "text": f"B{i}"} for i in range(11)]}, "buttons", "10 au maximum"),
    ({"buttons": [{"type": "URL", "text": "a", "url": "https://a.ga"}] * 3}, "buttons", "2 boutons « lien »"),
    ({"buttons": [{"type": "PHONE_NUMBER", "text": "a", "phone_number": "+24111760000"}] * 2}, "buttons",
     "1 bouton « appel »"),
    ({"buttons": [{"type": "QUICK_REPLY", "text": "a"}, {"type": "URL", "text": "b", "url": "https://a.ga"},
                  {"type": "QUICK_REPLY", "text": "c"}]}, "buttons", "regroupés"),
    ({"buttons": [{"type": "QUICK_REPLY", "text": "x" * 26}]}, "buttons", "25 au maximum"),
    ({"buttons": [{"type": "QUICK_REPLY", "text": " "}]}, "buttons", "libellé est obligatoire"),
    ({"buttons": [{"type": "URL", "text": "a", "url": "e.cnss.ga"}]}, "buttons", "adresse web invalide"),
    ({"buttons": [{"type": "URL", "text": "a", "url": "https://e.cnss.ga/{{1}}/x"}]}, "buttons", "à la fin"),
    ({"buttons": [{"type": "PHONE_NUMBER", "text": "a", "phone_number": "1432"}]}, "buttons", "numéro"),
    ({"buttons": [{"type": "FLOW", "text": "a"}]}, "buttons", "type attendu"),
])
def test_each_whatsapp_rule(changes, field, message) -> None:  # noqa: ANN001
    problems = templates.validate(with_(**changes))
    assert field in problems, problems
    assert any(message in p for p in problems[field]), problems[field]


@pytest.mark.parametrize("mapping, message", [
    ({**GOOD["variable_mapping"], "2": None}, "Variable {{2}} : choisissez"),
    ({**GOOD["variable_mapping"], "2": {"source": "sql", "x": 1}}, "source attendue"),
    ({**GOOD["variable_mapping"], "1": {"source": "field", "field": "password_hash"}}, "champ du contact inconnu"),
    ({**GOOD["variable_mapping"], "2": {"source": "attribute", "attribute": "a b"}}, "nom d'attribut invalide"),
    ({**GOOD["variable_mapping"], "3": {"source": "text", "text": " "}}, "texte fixe est vide"),
    ({**GOOD["variable_mapping"], "9": {"source": "text", "text": "x"}}, "Variables inconnues"),
    ({k: v for k, v in GOOD["variable_mapping"].items() if k != "header"}, "Variable de l'en-tête"),
])
def test_mapping_rules(mapping, message) -> None:  # noqa: ANN001
    assert any(message in p for p in templates.validate_mapping(GOOD, mapping))


def test_rendering_with_values_fallbacks_and_missing_values() -> None:
    awa = {"first_name": "Awa", "attributes": {"periode": "T4 2026", "matricule": "A123"}}
    rendered = templates.render(GOOD, GOOD["variable_mapping"], awa)
    assert rendered.ok and rendered.parameters == {
        "body": ["Awa", "T4 2026", "15 janvier 2027"], "header": ["cotisation"], "buttons": {"2": "A123"}}
    no_name = templates.render(GOOD, GOOD["variable_mapping"], {"first_name": "  ", "attributes": awa["attributes"]})
    assert no_name.parameters["body"][0] == "Madame, Monsieur"  # the fallback
    missing = templates.render(GOOD, GOOD["variable_mapping"], {"first_name": "Awa", "attributes": {"matricule": "1"}})
    assert (missing.ok, missing.skip_reason) == (False, "missing_variable:2")  # never sent ""
    components = templates.provider_components(GOOD, rendered.parameters)
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "cotisation"}]},
        {"type": "body", "parameters": [{"type": "text", "text": v} for v in ["Awa", "T4 2026", "15 janvier 2027"]]},
        {"type": "button", "sub_type": "url", "index": "2", "parameters": [{"type": "text", "text": "A123"}]},
    ]
    assert templates.fill(GOOD["body"], rendered.parameters["body"]).startswith("Bonjour Awa, votre cotisation de T4")


def test_save_validates_and_keeps_name_and_language_unique(session) -> None:  # noqa: ANN001
    saved = templates.save(session, GOOD)
    assert saved.id and session.scalar(select(AuditLog.action)) == "template_created"
    with pytest.raises(templates.TemplateInvalid) as err:
        templates.save(session, GOOD)
    assert "existe déjà" in err.value.problems["name"][0]
    templates.save(session, with_(language="en"))
    with pytest.raises(templates.TemplateInvalid) as err:
        templates.save(session, with_(name="Mauvais Nom", body=""))
    assert {"name", "body"} <= set(err.value.problems)
    assert [t.name for t in templates.approved(session)] == ["rappel_cotisation", "rappel_cotisation"]
    templates.save(session, with_(name="en_attente", status="PENDING"))
    assert "en_attente" not in [t.name for t in templates.approved(session)]


def test_json_import_refuses_invalid_templates_and_changes_nothing_for_them(session) -> None:  # noqa: ANN001
    items = [GOOD, with_(name="Invalide!"), with_(name="second", body="Sans variable.", header=None, buttons=[]),
             "pas un objet", with_(name="mapping_incomplet", variable_mapping={})]
    for item in items[2:3]:
        item["variable_mapping"] = {}
    report = templates.import_json(session, json.dumps(items))
    assert (report.created, report.updated, len(report.refused)) == (2, 0, 3)
    refused = {r["index"]: r for r in report.refused}
    assert "name" in refused[1]["problems"] and "_" in refused[3]["problems"]
    assert "variable_mapping" in refused[4]["problems"]
    assert {t.name for t in templates.list_all(session)} == {"rappel_cotisation", "second"}
    again = templates.import_json(session, json.dumps([with_(footer="Nouveau pied")]))
    assert (again.created, again.updated) == (0, 1)
    exported = json.loads(templates.export_json(session))
    assert {t["name"] for t in exported} == {"rappel_cotisation", "second"}
    assert set(exported[0]) == {"name", "language", "category", "status", "quality", "header", "body", "footer",
                                "buttons", "variable_mapping"}
    with pytest.raises(UserError, match="JSON illisible"):
        templates.import_json(session, "{pas du json")
    with pytest.raises(UserError, match="liste"):
        templates.import_json(session, "{}")


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


def test_test_send_through_the_sandbox(session) -> None:  # noqa: ANN001
    tpl = templates.save(session, GOOD)
    awa = Contact(phone="+24177280150", first_name="Awa", attributes={"periode": "T4", "matricule": "A1"})
    session.add(awa)
    session.flush()
    assert messaging.send_test(session, tpl, to="077 28 01 50", contact=awa)
    with pytest.raises(UserError, match="Numéro de test invalide"):
        messaging.send_test(session, tpl, to="011 76 12 34", contact=awa)
    with pytest.raises(UserError, match=r"Variable \{\{2\}\}"):
        messaging.send_test(session, tpl, to="077280150", contact=None)
    tpl.status = "PENDING"
    with pytest.raises(UserError, match="approuvé"):
        messaging.send_test(session, tpl, to="077280150", contact=awa)


def test_a_test_send_never_reaches_an_opted_out_person(session) -> None:  # noqa: ANN001
    tpl = templates.save(session, GOOD)
    awa = Contact(phone="+24177280150", first_name="Awa", attributes={"periode": "T4", "matricule": "A1"})
    gone = Contact(phone="+24166123456", first_name="Paul", consent_status="opted_out", attributes={})
    session.add_all([awa, gone])
    session.flush()
    with pytest.raises(UserError, match="désinscrite"):
        messaging.send_test(session, tpl, to="066 12 34 56", contact=awa)  # the values of one, the phone of the other
    assert messaging.send_test(session, tpl, to="077 28 01 50", contact=awa)


def test_test_send_through_respondio(session, fake_respondio, monkeypatch) -> None:  # noqa: ANN001
    from core.config import reload_settings

    monkeypatch.setenv("RESPONDIO_API_TOKEN", fake_respondio.token)
    monkeypatch.setenv("RESPONDIO_BASE_URL", fake_respondio.base_url)
    monkeypatch.setenv("RESPONDIO_CHANNEL_ID", str(fake_respondio.channel_id))
    reload_settings()
    tpl = templates.save(session, GOOD)
    awa = Contact(phone="+24177280150", first_name="Awa", attributes={"periode": "T4", "matricule": "A1"})
    session.add(awa)
    session.flush()
    from core import outbox
    from workers.outbox import deliver

    first = messaging.send_test(session, tpl, to="+241 77 28 01 50", contact=awa)
    session.commit()  # sent by the outbox after the commit, never from inside the transaction
    assert fake_respondio.accepted == []
    assert deliver(linger=0) == {"sent": 1}
    sent = fake_respondio.accepted[0]
    assert sent.identifier == "phone:+24177280150" and sent.message["template"]["name"] == "rappel_cotisation"
    fake_respondio.templates = {"rappel_cotisation": 2}
    second = messaging.send_test(session, tpl, to="077280150", contact=awa)
    session.commit()
    assert deliver(linger=0) == {"failed": 1}
    session.expire_all()
    assert outbox.describe(outbox.get(session, first)) == "envoyé"
    refused = outbox.describe(outbox.get(session, second))
    assert refused == "échec : Nombre de paramètres différent du modèle (132000)"


def test_cli_templates(db_url, tmp_path, capsys, fake_respondio, monkeypatch) -> None:  # noqa: ANN001
    from cli import main

    path = tmp_path / "modeles.json"
    path.write_text(json.dumps([GOOD, with_(name="Mauvais")]), encoding="utf-8")
    assert main(["templates", "import", str(path), "--json"]) == 1  # one refused
    data = json.loads(capsys.readouterr().out)
    assert (data["created"], data["refused"]) == (1, 1) and data["refused_templates"][0]["name"] == "Mauvais"
    assert main(["templates", "export", str(tmp_path / "out.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exported"] == 1
    assert json.loads((tmp_path / "out.json").read_text())[0]["name"] == "rappel_cotisation"
    assert main(["templates", "sync", "--json"]) == 1
    assert "No Respond.io token" in json.loads(capsys.readouterr().out)["error"]
    from core.config import reload_settings

    monkeypatch.setenv("RESPONDIO_API_TOKEN", fake_respondio.token)
    monkeypatch.setenv("RESPONDIO_BASE_URL", fake_respondio.base_url)
    monkeypatch.setenv("RESPONDIO_CHANNEL_ID", str(fake_respondio.channel_id))
    reload_settings()
    fake_respondio.template_endpoint = "mtm"
    fake_respondio.template_list = [{"name": "rappel_cotisation", "language": "fr", "status": "PAUSED",
                                     "category": "UTILITY", "components": [{"type": "BODY", "text": GOOD["body"]}]}]
    assert main(["templates", "sync", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"created": 0, "updated": 1, "unchanged": 0}


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
