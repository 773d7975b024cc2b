"""core.templates.rules: WhatsApp's template rules one by one, and the variable mapping's."""

from __future__ import annotations

import pytest

from core import templates
from tests.core.templates import GOOD, with_


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


def test_variables_start_from_what_the_words_before_them_say() -> None:
    from core.templates import guess_mapping

    body = ("Bonjour {{1}}, votre dossier n° {{2}} est prêt à l'agence de {{3}} depuis le {{4}}. "
            "Madame {{5}}, M. {{6}} : nom {{7}}.")
    guess = guess_mapping({"body": body}, ["numero_dossier", "agence", "type_assure"])
    assert guess["1"] == {"source": "field", "field": "first_name"}
    assert guess["2"] == {"source": "attribute", "attribute": "numero_dossier"}  # « dossier » names it
    assert guess["3"] == {"source": "attribute", "attribute": "agence"}
    assert guess["4"] == {"source": "text", "text": ""}  # nothing says what it is: asked, never « Awa »
    assert guess["5"]["field"] == "first_name" and guess["6"]["field"] == "first_name"
    assert guess["7"] == {"source": "field", "field": "last_name"}


def test_a_template_that_cannot_be_sent_says_why_true_to_its_status() -> None:
    from core.templates import status_problem

    assert status_problem("APPROVED") is None
    assert "pas encore approuvé" in status_problem("PENDING")
    assert "refusé par WhatsApp" in status_problem("REJECTED")
    assert "n'est plus approuvé" in status_problem("PAUSED") and "en pause" in status_problem("PAUSED")
    assert "plus" not in status_problem("PENDING")


@pytest.mark.parametrize("body, expected", [
    ("Numéro d'assuré : {{1}}", {"source": "attribute", "attribute": "numero_assure"}),
    ("Votre numéro de dossier {{1}}", {"source": "attribute", "attribute": "numero_dossier"}),
    ("Votre pension n° {{1}}", {"source": "text", "text": ""}),  # `montant_pension` is not a number
    ("Cher assuré {{1}}, votre dossier", {"source": "field", "field": "first_name"}),
])
def test_an_attribute_is_guessed_only_when_all_its_words_are_there(body, expected) -> None:  # noqa: ANN001
    from core.templates import guess_mapping

    attributes = ["type_assure", "numero_assure", "numero_dossier", "montant_pension", "agence"]
    assert guess_mapping({"body": body}, attributes)["1"] == expected
