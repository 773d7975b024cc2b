"""A template that follows every WhatsApp rule, for the tests of core.templates."""

from __future__ import annotations

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
