"""core.templates.rendering: values, fallbacks and missing values."""

from __future__ import annotations

from core import templates
from tests.core.templates import GOOD


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
