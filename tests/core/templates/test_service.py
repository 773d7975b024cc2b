"""core.templates.service: save, JSON import and export, the command line, and the test send."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import messaging, templates
from core.errors import UserError
from core.models import AuditLog, Contact
from tests.core.templates import GOOD, with_


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
